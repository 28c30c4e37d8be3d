/**
 * A small reader of Bicep source, enough to cross-check infra/ against the app without the Bicep
 * CLI (which cannot be installed here). It understands declarations (`param`, `var`, `resource`,
 * `module`, `output`, decorators, `if (…)` conditions, `[for …: …]` loops), literal objects,
 * arrays, strings, numbers and booleans. Anything else is kept as an {@link BicepExpr}: its text,
 * plus every object/array literal found inside it (e.g. both branches of `c ? {…} : {…}`).
 */

/** An expression that is not a plain literal. */
export interface BicepExpr {
  /** Source text, trimmed. */
  expr: string;
  /** Object and array literals that appear inside the expression. */
  literals: BicepValue[];
}

/** A Bicep value: literals become JS values, everything else a {@link BicepExpr}. */
export type BicepValue = string | number | boolean | null | BicepValue[] | BicepObject | BicepExpr;

/** An object literal. Keys keep their spelling (quotes removed). */
export interface BicepObject {
  [key: string]: BicepValue;
}

/** One top-level declaration. */
export interface BicepDeclaration {
  kind: 'targetScope' | 'param' | 'var' | 'resource' | 'module' | 'output';
  /** Symbolic name (empty for targetScope). */
  name: string;
  /** Resource type without api version (`Microsoft.Web/sites`), module path, or param/output type. */
  type?: string;
  /** Resource api version. */
  apiVersion?: string;
  /** True for `existing` resources. */
  existing?: boolean;
  /** Text of an `if (…)` condition, without the parentheses. */
  condition?: string;
  /** `[for item in source: …]`: the text between `for` and `:`. */
  loop?: string;
  /** Decorators as written, e.g. `@description('Required. …')`. */
  decorators: string[];
  /** The value (the body object for resources and modules, the default value for params). */
  value?: BicepValue;
}

/** Thrown when the text cannot be read; says where. */
export class BicepSyntaxError extends Error {}

/** True for a {@link BicepExpr}. */
export function isExpr(value: BicepValue | undefined): value is BicepExpr {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    'expr' in value &&
    'literals' in value
  );
}

/** True for an object literal. */
export function isObject(value: BicepValue | undefined): value is BicepObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isExpr(value);
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    throw new BicepSyntaxError(`${message} at line ${line}, column ${column}`);
  }

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  /** Skips spaces, tabs and comments; newlines too when `newlines`. */
  skip(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) this.pos++;
      else if (this.startsWith('//')) {
        const end = this.text.indexOf('\n', this.pos);
        this.pos = end === -1 ? this.text.length : end;
      } else if (this.startsWith('/*')) {
        const end = this.text.indexOf('*/', this.pos + 2);
        if (end === -1) this.fail('unterminated comment');
        this.pos = end + 2;
      } else return;
    }
  }

  ident(): string | undefined {
    IDENT.lastIndex = this.pos;
    const m = IDENT.exec(this.text);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  expect(s: string): void {
    if (!this.startsWith(s)) this.fail(`expected "${s}"`);
    this.pos += s.length;
  }

  /** Reads a string literal; `interpolated` when it holds `${…}`. */
  string(): { value: string; interpolated: boolean } {
    if (this.startsWith("'''")) {
      const end = this.text.indexOf("'''", this.pos + 3);
      if (end === -1) this.fail('unterminated multi-line string');
      const value = this.text.slice(this.pos + 3, end).replace(/^\r?\n/, '');
      this.pos = end + 3;
      return { value, interpolated: false };
    }
    this.expect("'");
    let value = '';
    let interpolated = false;
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n') this.fail('unterminated string');
      if (c === '\\') {
        const n = this.peek(1);
        const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", $: '$' };
        value += escapes[n] ?? n;
        this.pos += 2;
      } else if (c === "'") {
        this.pos++;
        return { value, interpolated };
      } else if (c === '$' && this.peek(1) === '{') {
        interpolated = true;
        const start = this.pos;
        this.pos += 2;
        this.balanced('{', '}');
        value += this.text.slice(start, this.pos);
      } else {
        value += c;
        this.pos++;
      }
    }
  }

  /** Skips to after the `close` matching an already consumed `open`, minding strings. */
  balanced(open: string, close: string): void {
    let depth = 1;
    while (depth > 0) {
      if (this.atEnd()) this.fail(`missing "${close}"`);
      const c = this.peek();
      if (c === "'") this.string();
      else if (this.startsWith('//') || this.startsWith('/*')) this.skip(false);
      else {
        if (c === open) depth++;
        else if (c === close) depth--;
        this.pos++;
      }
    }
  }

  /** True when the next character ends a value (line end, separator, closer, comment, end). */
  atValueEnd(): boolean {
    const save = this.pos;
    this.skip(false);
    const c = this.peek();
    const end = c === '' || c === '\n' || c === ',' || c === '}' || c === ']' || c === ')';
    this.pos = save;
    return end;
  }

  value(): BicepValue {
    this.skip(false);
    const start = this.pos;
    const literal = this.literal();
    if (literal !== undefined && this.atValueEnd()) return literal.value;
    this.pos = start;
    return this.expression();
  }

  /** A literal at the cursor, or undefined (cursor then unspecified). */
  literal(): { value: BicepValue } | undefined {
    const c = this.peek();
    if (c === '{') return { value: this.object() };
    if (c === '[') {
      const save = this.pos;
      this.pos++;
      this.skip(true);
      const isLoop = this.startsWith('for') && /\s|\(/.test(this.peek(3));
      this.pos = save;
      return isLoop ? undefined : { value: this.array() };
    }
    if (c === "'") {
      const s = this.string();
      return s.interpolated ? undefined : { value: s.value };
    }
    const m = /^(-?\d+(?:\.\d+)?|true|false|null)(?![A-Za-z0-9_.(])/.exec(
      this.text.slice(this.pos, this.pos + 40),
    );
    if (m?.[1] !== undefined) {
      this.pos += m[1].length;
      const t = m[1];
      return { value: t === 'true' ? true : t === 'false' ? false : t === 'null' ? null : Number(t) };
    }
    return undefined;
  }

  object(): BicepObject {
    this.expect('{');
    const out: BicepObject = {};
    for (;;) {
      this.skip(true);
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === '}') {
        this.pos++;
        return out;
      }
      let key: string | undefined;
      if (this.peek() === "'") {
        const s = this.string();
        key = s.value;
      } else key = this.ident();
      if (key === undefined) this.fail('expected an object key');
      this.skip(false);
      this.expect(':');
      out[key] = this.value();
    }
  }

  array(): BicepValue[] {
    this.expect('[');
    const out: BicepValue[] = [];
    for (;;) {
      this.skip(true);
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ']') {
        this.pos++;
        return out;
      }
      out.push(this.value());
    }
  }

  /** Reads an expression to the end of its value; collects literals found inside it. */
  expression(): BicepExpr {
    const start = this.pos;
    const literals: BicepValue[] = [];
    let depth = 0;
    for (;;) {
      const c = this.peek();
      if (c === '') break;
      if (depth === 0 && (c === '\n' || c === ',' || c === '}' || c === ']' || c === ')')) break;
      if (this.startsWith('//') || this.startsWith('/*')) {
        if (depth === 0 && this.startsWith('//')) break;
        this.skip(false);
        continue;
      }
      if (c === "'") this.string();
      else if (c === '{') literals.push(this.object());
      else if (c === '[') {
        const lit = this.literal();
        if (lit) literals.push(lit.value);
        else {
          this.pos++;
          this.balanced('[', ']');
        }
      } else if (c === '(') {
        depth++;
        this.pos++;
      } else if (c === ')') {
        depth--;
        this.pos++;
      } else this.pos++;
    }
    const expr = this.text.slice(start, this.pos).trim();
    if (expr === '') this.fail('expected a value');
    return { expr, literals };
  }

  /** After `=` of a resource or module: `[if (c)] body` or `[for …: [if (c)] body]`. */
  resourceBody(decl: BicepDeclaration): void {
    this.skip(true);
    if (this.peek() === '[') {
      this.pos++;
      this.skip(true);
      this.expect('for');
      const headerStart = this.pos;
      while (this.peek() !== ':') {
        if (this.atEnd()) this.fail('expected ":" in a for expression');
        if (this.peek() === "'") this.string();
        else if (this.peek() === '(') {
          this.pos++;
          this.balanced('(', ')');
        } else this.pos++;
      }
      decl.loop = this.text.slice(headerStart, this.pos).trim();
      this.pos++;
      this.condition(decl);
      this.skip(true);
      decl.value = this.value();
      this.skip(true);
      this.expect(']');
      return;
    }
    this.condition(decl);
    this.skip(true);
    decl.value = this.value();
  }

  condition(decl: BicepDeclaration): void {
    this.skip(true);
    if (this.startsWith('if') && /[\s(]/.test(this.peek(2))) {
      this.pos += 2;
      this.skip(true);
      this.expect('(');
      const start = this.pos;
      this.balanced('(', ')');
      decl.condition = this.text.slice(start, this.pos - 1).trim();
    }
  }

  restOfLine(): string {
    const end = this.text.indexOf('\n', this.pos);
    const line = this.text.slice(this.pos, end === -1 ? this.text.length : end);
    this.pos = end === -1 ? this.text.length : end;
    return line;
  }
}

/** Parses Bicep source into its top-level declarations. Throws {@link BicepSyntaxError}. */
export function parseBicep(text: string): BicepDeclaration[] {
  const r = new Reader(text.replace(/\r\n/g, '\n'));
  const out: BicepDeclaration[] = [];
  let decorators: string[] = [];
  for (;;) {
    r.skip(true);
    if (r.atEnd()) return out;
    if (r.peek() === '@') {
      const start = r.pos;
      r.pos++;
      if (r.ident() === undefined) r.fail('expected a decorator name');
      while (r.peek() === '.') {
        r.pos++;
        r.ident();
      }
      if (r.peek() === '(') {
        r.pos++;
        r.balanced('(', ')');
      }
      decorators.push(r.text.slice(start, r.pos));
      continue;
    }
    const keyword = r.ident();
    if (keyword === undefined) r.fail('expected a declaration');
    r.skip(false);
    const decl: BicepDeclaration = { kind: 'var', name: '', decorators };
    decorators = [];
    switch (keyword) {
      case 'targetScope':
        decl.kind = 'targetScope';
        r.expect('=');
        decl.value = r.value();
        break;
      case 'param':
      case 'output': {
        decl.kind = keyword;
        decl.name = r.ident() ?? r.fail(`expected a ${keyword} name`);
        r.skip(false);
        const typeStart = r.pos;
        while (!r.atEnd() && r.peek() !== '=' && r.peek() !== '\n') {
          if (r.peek() === "'") r.string();
          else r.pos++;
        }
        decl.type = r.text.slice(typeStart, r.pos).trim();
        if (r.peek() === '=') {
          r.pos++;
          decl.value = r.value();
        }
        break;
      }
      case 'var':
        decl.kind = 'var';
        decl.name = r.ident() ?? r.fail('expected a variable name');
        r.skip(false);
        r.expect('=');
        decl.value = r.value();
        break;
      case 'resource':
      case 'module': {
        decl.kind = keyword;
        decl.name = r.ident() ?? r.fail(`expected a ${keyword} name`);
        r.skip(false);
        const target = r.string();
        if (keyword === 'resource') {
          const at = target.value.lastIndexOf('@');
          decl.type = at === -1 ? target.value : target.value.slice(0, at);
          if (at !== -1) decl.apiVersion = target.value.slice(at + 1);
        } else decl.type = target.value;
        r.skip(false);
        if (r.startsWith('existing')) {
          decl.existing = true;
          r.pos += 'existing'.length;
          r.skip(false);
        }
        r.expect('=');
        r.resourceBody(decl);
        break;
      }
      default:
        // metadata, import, type, func, …: not needed by the checks.
        r.restOfLine();
        continue;
    }
    out.push(decl);
  }
}

/** The value at a dotted path inside an object literal (`properties.siteConfig.minTlsVersion`). */
export function valueAt(value: BicepValue | undefined, path: string): BicepValue | undefined {
  let current = value;
  for (const key of path.split('.')) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Source text of a value (literals rendered as Bicep-ish text), for matching references. */
export function textOf(value: BicepValue | undefined): string {
  if (value === undefined) return '';
  if (isExpr(value)) return value.expr;
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(textOf).join(' ')}]`;
  if (isObject(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${textOf(v)}`)
      .join(' ')}}`;
  return String(value);
}

/** Every object literal of a value: itself, or the literals inside an expression (recursively). */
export function objectLiterals(value: BicepValue | undefined): BicepObject[] {
  if (isObject(value)) return [value];
  if (isExpr(value)) return value.literals.flatMap(objectLiterals);
  return [];
}

/** True when `expr` mentions the identifier `name` as a whole word. */
export function mentions(expr: string, name: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9_])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_])`).test(
    expr,
  );
}
