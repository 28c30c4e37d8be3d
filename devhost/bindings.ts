import type { RegisteredFunction } from './core-api.js';
import type { RpcParameterBinding } from './core-types.js';

/** Input and output bindings other than the trigger, shared by every trigger of the host. */
export interface BindingServices {
  /** Extra input data for an invocation (the `durableClient` payload; other input types are not bound). */
  extraInputs(fn: RegisteredFunction): RpcParameterBinding[];
  /** Delivers output bindings (Service Bus, blob) after a successful invocation; `params` fill `{name}` in paths. */
  applyOutputs(
    fn: RegisteredFunction,
    outputData: RpcParameterBinding[],
    params?: Record<string, string>,
  ): Promise<void>;
}

/** Binding types the local host binds or delivers; others are reported at startup. */
export const SUPPORTED_BINDING_TYPES = new Set([
  'httpTrigger',
  'http',
  'timerTrigger',
  'blobTrigger',
  'serviceBusTrigger',
  'orchestrationTrigger',
  'activityTrigger',
  'entityTrigger',
  'durableClient',
  'orchestrationClient',
  'serviceBus',
  'blob',
]);

/** Descriptions of bindings of the app the local host does not support (empty when all are). */
export function unsupportedBindings(functions: Iterable<RegisteredFunction>): string[] {
  const out: string[] = [];
  for (const fn of functions) {
    for (const [name, b] of Object.entries(fn.metadata.bindings)) {
      const type = String(b.type);
      const supported = SUPPORTED_BINDING_TYPES.has(type) && !(type === 'blob' && b.direction === 'in');
      if (!supported) out.push(`${fn.metadata.name}: ${type} (${String(b.direction)}, ${name})`);
    }
  }
  return out;
}

/** The `durableClient` input payloads of a function. */
export function durableClientInputs(
  fn: RegisteredFunction,
  clientData: () => unknown,
): RpcParameterBinding[] {
  const out: RpcParameterBinding[] = [];
  for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
    if (binding.direction !== 'in') continue;
    if (binding.type === 'durableClient' || binding.type === 'orchestrationClient') {
      out.push({ name, data: { string: JSON.stringify(clientData()) } });
    }
  }
  return out;
}
