import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AuthorityContext } from './authority.js';
import { issueFederatedAssertion } from './authority.js';
import type { EmulatorEngine } from './engine.js';
import type { EnvironmentRuntime } from './fo.js';
import { readBody, sendJson } from './http.js';
import { FaultSpecSchema, SwitchesPatchSchema } from './options.js';

/** Path prefix of the control API on every environment listener. */
export const CONTROL_PREFIX = '/_emulator';

const SeedSchema = z.strictObject({
  fileName: z.string().min(1).default('export.csv'),
  /** UTF-8 text content. */
  content: z.string().optional(),
  /** Binary content, base64. */
  contentBase64: z.string().optional(),
});
const RowsSchema = z.strictObject({
  entity: z.string().min(1),
  legalEntity: z.string().min(1),
  rows: z.array(z.record(z.string(), z.string())),
  environment: z.string().optional(),
});

function bad(res: ServerResponse, message: string): void {
  sendJson(res, 400, { error: message }, { 'content-type': 'application/json; charset=utf-8' });
}

function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Handles `/_emulator/…` on an environment listener. */
export async function handleControl(
  engine: EmulatorEngine,
  auth: AuthorityContext,
  env: EnvironmentRuntime,
  info: () => unknown,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', env.baseUrl);
  const path = url.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const json = (body: unknown, status = 200): void =>
    sendJson(res, status, body, { 'content-type': 'application/json; charset=utf-8' });
  let body: unknown = undefined;
  if (method === 'POST' || method === 'PATCH' || method === 'PUT') {
    const raw = await readBody(req, 100 * 1024 * 1024);
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return bad(res, 'body is not valid JSON');
      }
    }
  } else {
    req.resume();
  }
  await engine.tick();
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /':
    case 'GET /info':
      return json(info());
    case 'GET /health':
      return json({ ok: true });
    case 'GET /calls':
      return json(engine.calls.records);
    case 'GET /executions':
      return json(engine.executions.views());
    case 'GET /overlaps':
      return json(engine.executions.overlaps);
    case 'GET /projects':
      return json(engine.projects.views());
    case 'GET /queues':
      return json(engine.recurring.views());
    case 'GET /faults':
      return json(engine.faults.active);
    case 'DELETE /faults':
      engine.faults.clear();
      return json({ ok: true });
    case 'POST /faults': {
      const parsed = FaultSpecSchema.safeParse(body);
      if (!parsed.success) return bad(res, zodMessage(parsed.error));
      return json(engine.faults.add(parsed.data));
    }
    case 'GET /rows': {
      const entity = url.searchParams.get('entity');
      const legalEntity = url.searchParams.get('legalEntity');
      if (!entity || !legalEntity) return bad(res, 'entity and legalEntity are required');
      return json(engine.rows.list(url.searchParams.get('environment') ?? env.name, entity, legalEntity));
    }
    case 'POST /rows': {
      const parsed = RowsSchema.safeParse(body);
      if (!parsed.success) return bad(res, zodMessage(parsed.error));
      engine.rows.seed(
        parsed.data.environment ?? env.name,
        parsed.data.entity,
        parsed.data.legalEntity,
        parsed.data.rows,
      );
      return json({ ok: true });
    }
    case 'GET /clock':
      return json({
        now: new Date(engine.clock.now()).toISOString(),
        mode: engine.clock.mode,
        speed: engine.clock.speed,
      });
    case 'POST /clock/advance': {
      const parsed = z.strictObject({ ms: z.number().min(0) }).safeParse(body);
      if (!parsed.success) return bad(res, zodMessage(parsed.error));
      if (engine.clock.mode === 'external') {
        return json({ error: "The emulator clock follows its host's clock; advance that one." }, 409);
      }
      engine.clock.advance(parsed.data.ms);
      await engine.tick();
      return json({ now: new Date(engine.clock.now()).toISOString() });
    }
    case 'GET /options':
      return json(engine.switches);
    case 'POST /options':
    case 'PATCH /options': {
      const parsed = SwitchesPatchSchema.safeParse(body ?? {});
      if (!parsed.success) return bad(res, zodMessage(parsed.error));
      const patch = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
      engine.switches = { ...engine.switches, ...patch };
      return json(engine.switches);
    }
    case 'POST /reset':
      engine.reset();
      return json({ ok: true });
    case 'POST /federated-token': {
      const parsed = z.strictObject({ subject: z.string().min(1) }).safeParse(body);
      if (!parsed.success) return bad(res, zodMessage(parsed.error));
      return json({ assertion: issueFederatedAssertion(auth, parsed.data.subject) });
    }
    default: {
      const one = /^GET \/executions\/([^/]+)$/.exec(key);
      if (one) {
        const id = decodeURIComponent(one[1] ?? '');
        const view = engine.executions.view(id);
        return view ? json(view) : json({ error: `unknown execution ${id}` }, 404);
      }
      const seed = /^POST \/recurring\/([^/]+)\/messages$/.exec(key);
      if (seed) {
        const activity = engine.recurring.activity(decodeURIComponent(seed[1] ?? ''));
        if (!activity) return bad(res, `unknown activity ${seed[1] ?? ''}`);
        if (activity.direction !== 'export')
          return bad(res, `activity ${activity.id} is not an export activity`);
        const parsed = SeedSchema.safeParse(body ?? {});
        if (!parsed.success) return bad(res, zodMessage(parsed.error));
        const bytes =
          parsed.data.contentBase64 !== undefined
            ? Buffer.from(parsed.data.contentBase64, 'base64')
            : Buffer.from(parsed.data.content ?? '', 'utf8');
        const message = await engine.recurring.seedExportMessage({
          environment: activity.environment ?? env.name,
          activity,
          body: bytes,
          fileName: parsed.data.fileName,
        });
        return json({ messageId: message.messageId });
      }
      return sendJson(res, 404, { error: `unknown control route ${key}` });
    }
  }
}
