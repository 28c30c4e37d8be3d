import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorConfig } from './config.js';
import type { EmulatorEngine } from './engine.js';
import { dropResponse, readBody, sendEmpty, sendJson } from './http.js';
import { decodeJwt, verifyJwtSignature, type TokenSigner } from './jwt.js';
import { thumbprints } from './certs.js';

/** Audience of federated (workload identity) assertions, as Entra expects. */
export const FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';

/** Path of the App Service-style managed identity endpoint on the authority listener (IDENTITY_ENDPOINT). */
export const MANAGED_IDENTITY_PATH = '/msi/token';
/** The api-version the App Service managed identity protocol uses. */
export const MANAGED_IDENTITY_API_VERSION = '2019-08-01';

/** Shared state the token service needs. */
export interface AuthorityContext {
  config: EmulatorConfig;
  engine: EmulatorEngine;
  signer: TokenSigner;
  /** `https://127.0.0.1:{port}` of the authority listener. */
  authorityHost: () => string;
  /** Environments by base url (no trailing slash). */
  environments: () => { name: string; baseUrl: string; type: 'cloud' | 'onprem' }[];
  generatedClientCertPem: string;
}

/** Issuer of access tokens for the tenant. */
export function issuerOf(ctx: AuthorityContext): string {
  return `${ctx.authorityHost()}/${ctx.config.tenantId}/v2.0`;
}

/** Issuer of emulator-issued managed identity assertions. */
export function federationIssuer(ctx: AuthorityContext): string {
  return `${ctx.authorityHost()}/federation`;
}

function aadError(
  res: ServerResponse,
  status: number,
  error: string,
  code: number,
  description: string,
  headers: Record<string, string> = {},
): void {
  const trace = randomUUID();
  sendJson(
    res,
    status,
    {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${trace} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: trace,
      correlation_id: randomUUID(),
    },
    headers,
  );
}

function certPems(ctx: AuthorityContext, entries: readonly string[]): string[] {
  return entries.flatMap((entry) => {
    if (entry === 'generated') return [ctx.generatedClientCertPem];
    if (entry.includes('-----BEGIN CERTIFICATE-----')) return [entry];
    try {
      return [readFileSync(entry, 'utf8')];
    } catch {
      return [];
    }
  });
}

/** Issues an access token for an environment audience. */
export function issueAccessToken(
  ctx: AuthorityContext,
  input: { audience: string; clientId: string; lifetimeSeconds: number; issuer?: string },
): { token: string; expiresIn: number } {
  const now = Math.floor(ctx.engine.clock.now() / 1000);
  const expiresIn = input.lifetimeSeconds;
  const token = ctx.signer.sign({
    aud: input.audience,
    iss: input.issuer ?? issuerOf(ctx),
    iat: now,
    nbf: now - 300,
    exp: now + expiresIn,
    appid: input.clientId,
    azp: input.clientId,
    appidacr: '1',
    idtyp: 'app',
    oid: input.clientId,
    sub: input.clientId,
    tid: ctx.config.tenantId,
    ver: '1.0',
    jti: randomUUID(),
  });
  return { token, expiresIn };
}

/** Issues an emulator-signed assertion for a managed identity (workload identity federation). */
export function issueFederatedAssertion(
  ctx: AuthorityContext,
  subject: string,
  lifetimeSeconds = 3600,
): string {
  const now = Math.floor(Date.now() / 1000);
  return ctx.signer.sign({
    aud: FEDERATION_AUDIENCE,
    iss: federationIssuer(ctx),
    sub: subject,
    iat: now,
    nbf: now - 60,
    exp: now + lifetimeSeconds,
    jti: randomUUID(),
  });
}

function checkAssertion(
  ctx: AuthorityContext,
  client: EmulatorConfig['clients'][number],
  assertion: string,
  tokenUrl: string,
): string | undefined {
  const jwt = decodeJwt(assertion);
  if (!jwt) return 'AADSTS50027: JWT token is invalid or malformed.';
  const p = jwt.payload;
  // Assertions are made by clients on the wall clock, not on the emulator clock.
  const now = Date.now() / 1000;
  if (typeof p.exp !== 'number' || p.exp + 300 < now)
    return 'AADSTS700024: Client assertion is not within its valid time range.';
  if (p.iss === federationIssuer(ctx)) {
    if (!verifyJwtSignature(jwt, ctx.signer.publicKey))
      return 'AADSTS700213: No matching federated identity record found for presented assertion.';
    if (p.aud !== FEDERATION_AUDIENCE)
      return `AADSTS700212: No matching federated identity record found for presented assertion audience '${String(p.aud)}'.`;
    if (typeof p.sub !== 'string' || !client.federatedSubjects.includes(p.sub)) {
      return `AADSTS700213: No matching federated identity record found for presented assertion subject '${String(p.sub)}'.`;
    }
    return undefined;
  }
  if (p.iss !== client.clientId || p.sub !== client.clientId) {
    return 'AADSTS700023: Client assertion audience claim does not match Realm issuer or the issuer/subject is not the client id.';
  }
  const audiences = Array.isArray(p.aud) ? p.aud : [p.aud];
  const accepted = [
    tokenUrl,
    `${ctx.authorityHost()}/${ctx.config.tenantId}/oauth2/token`,
    `${ctx.authorityHost()}/${ctx.config.tenantId}/v2.0`,
  ];
  if (!audiences.some((a) => typeof a === 'string' && accepted.includes(a))) {
    return `AADSTS700016: Invalid audience '${String(p.aud)}' in the client assertion; expected '${tokenUrl}'.`;
  }
  for (const pem of certPems(ctx, client.certificates)) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      continue;
    }
    const t = thumbprints(pem);
    const hinted = jwt.header.x5t ?? jwt.header['x5t#S256'];
    if (hinted && hinted !== t.x5t && hinted !== t.x5tS256) continue;
    if (verifyJwtSignature(jwt, cert.publicKey)) return undefined;
  }
  return `AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${jwt.header.x5t ?? jwt.header['x5t#S256'] ?? ''}']`;
}

function openIdConfiguration(ctx: AuthorityContext): unknown {
  const base = `${ctx.authorityHost()}/${ctx.config.tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${ctx.authorityHost()}/${ctx.config.tenantId}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: issuerOf(ctx),
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${base}/openid/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'appid', 'tid'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'emulator',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  };
}

function normalizeResource(value: string): string {
  return value.replace(/\/+$/, '').toLowerCase();
}

/** Handles a request to the authority listener (Entra ID and AD FS token endpoints, discovery). */
export async function handleAuthority(
  ctx: AuthorityContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.authorityHost());
  const path = url.pathname.replace(/\/+$/, '');
  const tenant = ctx.config.tenantId.toLowerCase();
  const segments = path.split('/').filter(Boolean);
  const pathTenant = (segments[0] ?? '').toLowerCase();
  const record = ctx.engine.calls.start('authority', routeOf(path), req.method ?? 'GET', path);
  const done = (status: number): void => ctx.engine.calls.end(record, status);

  if (req.method === 'GET' && /^\/[^/]+(\/v2\.0)?\/\.well-known\/openid-configuration$/.test(path)) {
    if (pathTenant !== tenant && pathTenant !== 'organizations' && pathTenant !== 'common') {
      aadError(res, 400, 'invalid_tenant', 90002, `Tenant '${segments[0] ?? ''}' not found.`);
      return done(400);
    }
    sendJson(res, 200, openIdConfiguration(ctx), { 'content-type': 'application/json; charset=utf-8' });
    return done(200);
  }
  if (req.method === 'GET' && /^\/[^/]+\/discovery(\/v2\.0)?\/keys$/.test(path)) {
    sendJson(res, 200, ctx.signer.jwks(), { 'content-type': 'application/json; charset=utf-8' });
    return done(200);
  }
  if (req.method === 'GET' && /^\/[^/]+\/discovery\/instance$/.test(path)) {
    const host = new URL(ctx.authorityHost()).host;
    sendJson(res, 200, {
      tenant_discovery_endpoint: `${ctx.authorityHost()}/${ctx.config.tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
    return done(200);
  }
  if (req.method === 'POST' && path === '/federation/token') {
    const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
    const subject = form.get('subject') ?? url.searchParams.get('subject');
    if (!subject) {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'subject is required' });
      return done(400);
    }
    sendJson(res, 200, { assertion: issueFederatedAssertion(ctx, subject) });
    return done(200);
  }
  if (path === MANAGED_IDENTITY_PATH) {
    req.resume();
    const status = await handleManagedIdentity(ctx, req, res, url, record);
    return done(status);
  }
  const isV2 = req.method === 'POST' && path === `/${segments[0] ?? ''}/oauth2/v2.0/token`;
  const isV1 =
    req.method === 'POST' && path === `/${segments[0] ?? ''}/oauth2/token` && pathTenant !== 'adfs';
  const isAdfs = req.method === 'POST' && path === '/adfs/oauth2/token';
  if (!isV2 && !isV1 && !isAdfs) {
    sendJson(res, 404, { error: 'not_found', error_description: `No endpoint at ${path}` });
    return done(404);
  }
  const tokenFault = ctx.engine.faults.take('authority', 'token', [
    'status',
    'latency',
    'reset',
    'dropResponse',
    'tokenExpiry',
  ]);
  if (tokenFault) record.fault = tokenFault.kind;
  if (tokenFault?.kind === 'latency') await new Promise((r) => setTimeout(r, tokenFault.ms));
  if (tokenFault?.kind === 'dropResponse') dropResponse(req, res);
  if (tokenFault?.kind === 'reset') {
    req.socket.destroy();
    return done(0);
  }
  if (tokenFault?.kind === 'status') {
    const headers: Record<string, string> = {};
    if (tokenFault.retryAfterSeconds !== undefined)
      headers['retry-after'] = String(tokenFault.retryAfterSeconds);
    aadError(res, tokenFault.status, 'temporarily_unavailable', 90033, 'Injected fault.', headers);
    return done(tokenFault.status);
  }
  let form: URLSearchParams;
  try {
    form = new URLSearchParams((await readBody(req, 256 * 1024)).toString('utf8'));
  } catch {
    aadError(res, 400, 'invalid_request', 900144, 'The request body is too large.');
    return done(400);
  }
  // client_secret_basic
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (basic?.[1]) {
    const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    if (id && !form.has('client_id')) form.set('client_id', decodeURIComponent(id));
    if (secret && !form.has('client_secret')) form.set('client_secret', decodeURIComponent(secret));
  }
  if (!isAdfs && pathTenant !== tenant) {
    aadError(
      res,
      400,
      'invalid_request',
      90002,
      `Tenant '${segments[0] ?? ''}' not found. Check to make sure you have the correct tenant ID.`,
    );
    return done(400);
  }
  if (form.get('grant_type') !== 'client_credentials') {
    aadError(
      res,
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${form.get('grant_type') ?? ''}'.`,
    );
    return done(400);
  }
  let resource: string | undefined;
  if (isV2) {
    const scope = form.get('scope') ?? '';
    const match = scope.split(/\s+/).find((s) => s.endsWith('/.default'));
    if (!match) {
      aadError(
        res,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
      return done(400);
    }
    resource = match.slice(0, -'/.default'.length);
  } else {
    resource = form.get('resource') ?? undefined;
    if (!resource) {
      aadError(
        res,
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'resource'.",
      );
      return done(400);
    }
  }
  const env = ctx.environments().find((e) => normalizeResource(e.baseUrl) === normalizeResource(resource));
  if (!env || (isAdfs && env.type !== 'onprem') || (!isAdfs && env.type === 'onprem')) {
    aadError(
      res,
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${ctx.config.tenantId}.`,
    );
    return done(400);
  }
  const clientId = form.get('client_id') ?? '';
  const client = ctx.config.clients.find((c) => c.clientId.toLowerCase() === clientId.toLowerCase());
  if (!client) {
    aadError(
      res,
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory.`,
    );
    return done(400);
  }
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (assertion) {
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      aadError(
        res,
        400,
        'invalid_request',
        50027,
        'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.',
      );
      return done(400);
    }
    const tokenUrl = `${ctx.authorityHost()}${path}`;
    const problem = checkAssertion(ctx, client, assertion, tokenUrl);
    if (problem) {
      const code = Number(/AADSTS(\d+)/.exec(problem)?.[1] ?? 700027);
      aadError(res, 401, 'invalid_client', code, problem.replace(/^AADSTS\d+: /, ''));
      return done(401);
    }
  } else if (secret) {
    if (!client.secrets.includes(secret)) {
      aadError(
        res,
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      );
      return done(401);
    }
  } else {
    aadError(
      res,
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
    return done(401);
  }
  const lifetime =
    tokenFault?.kind === 'tokenExpiry' ? tokenFault.seconds : ctx.engine.switches.tokenLifetimeSeconds;
  const issued = issueAccessToken(ctx, {
    audience: env.baseUrl,
    clientId: client.clientId,
    lifetimeSeconds: lifetime,
    issuer: isAdfs ? `${ctx.authorityHost()}/adfs` : undefined,
  });
  if (isAdfs) {
    sendJson(
      res,
      200,
      { access_token: issued.token, token_type: 'bearer', expires_in: issued.expiresIn },
      { 'content-type': 'application/json;charset=UTF-8' },
    );
  } else {
    sendJson(
      res,
      200,
      {
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        ext_expires_in: issued.expiresIn,
        access_token: issued.token,
      },
      { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache' },
    );
  }
  done(200);
}

function msiError(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { statusCode: status, message: description, error, error_description: description });
}

/**
 * App Service managed identity protocol (api-version 2019-08-01): `GET
 * {IDENTITY_ENDPOINT}?resource=…&api-version=2019-08-01[&client_id|principal_id|object_id=…]`
 * with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`. Issues an access token for an environment
 * audience, or an `api://AzureADTokenExchange` assertion (workload identity federation).
 */
async function handleManagedIdentity(
  ctx: AuthorityContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  record: { fault?: string },
): Promise<number> {
  const fault = ctx.engine.faults.take('authority', 'managedIdentity', [
    'status',
    'latency',
    'reset',
    'dropResponse',
    'tokenExpiry',
  ]);
  if (fault) record.fault = fault.kind;
  if (fault?.kind === 'latency') await new Promise((r) => setTimeout(r, fault.ms));
  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return 0;
  }
  if (fault?.kind === 'dropResponse') dropResponse(req, res);
  if (fault?.kind === 'status') {
    const headers: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    sendJson(res, fault.status, { statusCode: fault.status, message: 'Injected fault.' }, headers);
    return fault.status;
  }
  if (req.method !== 'GET') {
    msiError(res, 405, 'invalid_request', 'The managed identity endpoint only answers GET.');
    return 405;
  }
  const header = req.headers['x-identity-header'];
  if ((Array.isArray(header) ? header[0] : header) !== ctx.config.managedIdentityHeader) {
    msiError(res, 401, 'invalid_request', 'The X-IDENTITY-HEADER header is missing or invalid.');
    return 401;
  }
  const q = url.searchParams;
  if (q.get('api-version') !== MANAGED_IDENTITY_API_VERSION) {
    msiError(res, 400, 'invalid_request', `api-version must be ${MANAGED_IDENTITY_API_VERSION}.`);
    return 400;
  }
  const resource = q.get('resource') ?? '';
  if (!resource) {
    msiError(res, 400, 'invalid_request', 'The resource parameter is required.');
    return 400;
  }
  const clientId = q.get('client_id');
  const principalId = q.get('principal_id') ?? q.get('object_id');
  if (q.has('mi_res_id')) {
    msiError(res, 400, 'invalid_request', 'mi_res_id is not supported by the emulator; use client_id.');
    return 400;
  }
  const identities = ctx.config.managedIdentities;
  const identity = clientId
    ? identities.find((m) => m.clientId.toLowerCase() === clientId.toLowerCase())
    : principalId
      ? identities.find((m) => (m.principalId ?? m.clientId).toLowerCase() === principalId.toLowerCase())
      : identities[0];
  if (!identity) {
    msiError(
      res,
      400,
      'invalid_request',
      clientId || principalId
        ? `No managed identity with ${clientId ? `client_id '${clientId}'` : `principal_id '${principalId ?? ''}'`} is assigned.`
        : 'No managed identity is assigned (configure managedIdentities).',
    );
    return 400;
  }
  // MSAL caches by wall-clock time: expires_on is reported on the wall clock, the token's exp on the emulator clock.
  const nowSeconds = Math.floor(Date.now() / 1000);
  const lifetime = fault?.kind === 'tokenExpiry' ? fault.seconds : ctx.engine.switches.tokenLifetimeSeconds;
  if (normalizeResource(resource) === FEDERATION_AUDIENCE.toLowerCase()) {
    const subject = identity.subject ?? identity.principalId ?? identity.clientId;
    const assertionLifetime = fault?.kind === 'tokenExpiry' ? fault.seconds : 3600;
    sendJson(
      res,
      200,
      {
        access_token: issueFederatedAssertion(ctx, subject, assertionLifetime),
        expires_on: String(nowSeconds + assertionLifetime),
        resource,
        token_type: 'Bearer',
        client_id: identity.clientId,
      },
      { 'content-type': 'application/json; charset=utf-8' },
    );
    return 200;
  }
  const env = ctx
    .environments()
    .find((e) => e.type === 'cloud' && normalizeResource(e.baseUrl) === normalizeResource(resource));
  if (!env) {
    msiError(
      res,
      400,
      'invalid_resource',
      `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${ctx.config.tenantId}.`,
    );
    return 400;
  }
  const issued = issueAccessToken(ctx, {
    audience: env.baseUrl,
    clientId: identity.clientId,
    lifetimeSeconds: lifetime,
  });
  sendJson(
    res,
    200,
    {
      access_token: issued.token,
      expires_on: String(nowSeconds + issued.expiresIn),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    },
    { 'content-type': 'application/json; charset=utf-8' },
  );
  return 200;
}

function routeOf(path: string): string {
  if (path === MANAGED_IDENTITY_PATH) return 'managedIdentity';
  if (path.endsWith('/token')) return 'token';
  if (path.includes('openid-configuration')) return 'openid-configuration';
  if (path.endsWith('/keys')) return 'jwks';
  return 'authority';
}

/** Answers 404 quietly (used for favicon and the like). */
export function notFound(res: ServerResponse): void {
  sendEmpty(res, 404);
}
