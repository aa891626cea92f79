/**
 * The web console: the single-page app built into `ui/dist` by `npm run build`, served by the
 * same Fastify instance at `/`. Hashed assets (`/assets/<name>-<hash>.<ext>`) are cached for a
 * year; `index.html` is never cached, so a deploy is picked up at once. Every console answer
 * carries a Content-Security-Policy without inline script and `frame-ancestors 'none'`.
 *
 * Paths under the API prefixes never fall back to the app: an unknown `/api/...` stays a JSON 404.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `vite build` writes the console (relative to dist/src/api/ after tsc). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../ui/dist/', import.meta.url));

/** Prefixes that belong to the APIs: never answered with the app. */
export const API_PREFIXES = ['/api', '/cloud', '/auth', '/healthz', '/readyz', '/metrics'] as const;

/**
 * Scripts, styles and connections from this origin only; no inline script, no framing, no
 * plugins. `img-src data:` for the inline SVG icons Vite may emit.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Whether a request path belongs to one of the APIs (exactly the prefix, or the prefix and a `/`). */
export function isApiPath(path: string): boolean {
  return API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

function consoleHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', CONSOLE_CSP);
  void reply.header('x-frame-options', 'DENY');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('cross-origin-opener-policy', 'same-origin');
}

/** The console as served: index.html and the asset files, read once at start. */
export interface ConsoleFiles {
  index: Buffer;
  assets: ReadonlyMap<string, Buffer>;
}

/** Reads the built console, or undefined when `ui/dist` has not been built. */
export function loadConsole(dir = CONSOLE_DIR): ConsoleFiles | undefined {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) return undefined;
  const assets = new Map<string, Buffer>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) for (const name of readdirSync(assetDir)) assets.set(name, readFileSync(join(assetDir, name)));
  return { index: readFileSync(indexPath), assets };
}

/** Sends the app's index.html (the SPA fallback): never cached. */
export function sendIndex(files: ConsoleFiles, reply: FastifyReply): FastifyReply {
  consoleHeaders(reply);
  void reply.header('cache-control', 'no-store');
  return reply.code(200).type('text/html; charset=utf-8').send(files.index);
}

/**
 * Whether a not-found GET should get the app instead of a JSON 404: a GET/HEAD outside the API
 * prefixes that asks for HTML (or anything), never for an asset that does not exist.
 */
export function wantsApp(req: FastifyRequest): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = req.url.split('?')[0] ?? '/';
  return !isApiPath(path) && !path.startsWith('/assets/');
}

/** Registers `/` and `/assets/:file` on the app; the SPA fallback goes through the not-found handler. */
export function registerConsole(app: FastifyInstance, files: ConsoleFiles): void {
  app.get('/', async (_req, reply) => sendIndex(files, reply));
  app.get('/assets/:file', async (req, reply) => {
    const name = (req.params as { file: string }).file;
    const body = files.assets.get(name);
    consoleHeaders(reply);
    if (!body) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    // Names carry a content hash: the same name always has the same bytes.
    void reply.header('cache-control', 'public, max-age=31536000, immutable');
    return reply.type(TYPES[extname(name)] ?? 'application/octet-stream').send(body);
  });
}
