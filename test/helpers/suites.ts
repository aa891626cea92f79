/**
 * The set-up most store suites repeat, as one call inside a `describe`: it registers the
 * `before` hook that opens a store on a fresh database (and, depending on the call, a control
 * plane and an HTTP app over it) and the `after` hook that closes all it opened, newest first. The
 * returned object's fields are filled in that `before`, so tests read them (`s.store`, `s.t`)
 * only once the suite runs. `before`/`after` hooks run in the order they are registered, so a
 * suite's own `before` placed after the call sees the fields filled, and its own `after` runs
 * once they are closed.
 */
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createFixture, type StoreFixture } from './stores.js';
import { createControlFixture, type ControlFixture, type ControlFixtureOptions } from './control.js';
import { buildApp } from '../../src/api/app.js';
import { ingestTokenAuthenticator, type Authenticator } from '../../src/api/auth.js';
import { registerCloudHttpRoutes } from '../../src/api/cloud/http-routes.js';
import { resolveConfig, type Config } from '../../src/config.js';
import type { ControlPlaneHandle } from '../../src/control/control-plane.js';
import type { AuditStore } from '../../src/store/store.js';

type Engine = StoreFixture['engine'];

/** A store on a fresh database of one engine. */
export interface StoreSuite {
  fx: StoreFixture;
  store: AuditStore;
}

/** A store with a control plane over it: one account with an owner (`t.owner`), see ControlFixture. */
export interface ControlSuite extends StoreSuite {
  t: ControlFixture;
}

/** An HTTP app over a store, listening on 127.0.0.1 (`base` is its URL) or only ready for `inject`. */
export interface AppSuite extends StoreSuite {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>`; '' when the app does not listen. */
  base: string;
}

/** An HTTP app with the Cloud Ops API's HTTP mapping and the control plane's routes. */
export interface ServedSuite extends ControlSuite, AppSuite {}

export interface ControlSuiteOptions {
  /** Email of the first account's owner (default owner@example.com). */
  ownerEmail?: string;
  /**
   * Starts a delivery engine on the opened store for the control plane to wake (sink changes,
   * commits); `stop` runs before the store closes.
   */
  delivery?: (store: AuditStore) => { hooks: NonNullable<ControlFixtureOptions['delivery']>; stop(): Promise<void> };
}

export interface AppSuiteOptions {
  /** false: the app is only made ready (tests use `app.inject`) and `base` stays ''. Default true. */
  listen?: boolean;
}

/** How an app built by buildControlApp authenticates and records refusals. */
export interface ControlAppOptions {
  /** The app's authenticator; default the control plane's API keys (and its ingest token, if any). */
  auth?: Authenticator;
  /** Record refused `/api/v1` reads through the control plane, as the server does. */
  onRefused?: boolean;
  /** Runs on the app before the Cloud HTTP and control routes are registered (e.g. an `onRoute` hook). */
  register?: (app: FastifyInstance) => void;
}

export interface ServedSuiteOptions extends AppSuiteOptions, Omit<ControlAppOptions, 'auth'> {
  /**
   * The deployment ingest token: set as AUDITSTREAM_INGEST_TOKEN in the app's config and, unless
   * `auth` is given, checked before the control plane's API keys.
   */
  ingestToken?: string;
  /** The app's authenticator, made once the store and control plane are open. */
  auth?: (s: ControlSuite) => Authenticator;
}

/** Something a suite opened, closed in `after` (newest first). */
type Closer = () => Promise<unknown>;

/** Registers the hooks: opens the store, runs `setUp`, and closes all that was opened. */
function suite<S extends StoreSuite>(engine: Engine, setUp: (s: S, onClose: (close: Closer) => void) => Promise<void>): S {
  const s = {} as S;
  const closers: Closer[] = [];
  const onClose = (close: Closer) => void closers.unshift(close);
  before(async () => {
    s.fx = await createFixture(engine);
    onClose(() => s.fx.destroy());
    s.store = await s.fx.open();
    onClose(() => s.store.close());
    await setUp(s, onClose);
  });
  after(async () => {
    for (const close of closers) await close();
  });
  return s;
}

async function openControl(s: ControlSuite, onClose: (close: Closer) => void, opts: ControlSuiteOptions): Promise<void> {
  const delivery = opts.delivery?.(s.store);
  if (delivery) onClose(() => delivery.stop());
  s.t = await createControlFixture(s.store, opts.ownerEmail, delivery ? { delivery: delivery.hooks } : {});
}

async function openApp(s: AppSuite, onClose: (close: Closer) => void, app: FastifyInstance, opts: AppSuiteOptions): Promise<void> {
  s.app = app;
  onClose(() => app.close());
  s.base = '';
  if (opts.listen === false) {
    await app.ready();
    return;
  }
  s.base = await listenLocal(app);
}

/** Starts `app` on a free port of 127.0.0.1 and answers its base URL, `http://127.0.0.1:<port>`. */
export async function listenLocal(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

/** A store and a control plane with one account (owner@example.com unless `ownerEmail`). */
export function controlSuite(engine: Engine, opts: ControlSuiteOptions = {}): ControlSuite {
  return suite<ControlSuite>(engine, (s, onClose) => openControl(s, onClose, opts));
}

/** A store and the HTTP app `build` makes over it (no control plane), listening unless `listen: false`. */
export function appSuite(engine: Engine, build: (store: AuditStore) => Promise<FastifyInstance>, opts: AppSuiteOptions = {}): AppSuite {
  return suite<AppSuite>(engine, async (s, onClose) => openApp(s, onClose, await build(s.store), opts));
}

/** An HTTP app over `store` serving the Cloud Ops API's HTTP mapping and `control`'s routes (auth, /api/v1). */
export function buildControlApp(store: AuditStore, control: ControlPlaneHandle, config: Config, opts: ControlAppOptions = {}): Promise<FastifyInstance> {
  return buildApp({
    store,
    config,
    auth: opts.auth ?? control.apiAuth,
    ...(opts.onRefused ? { onRefused: control.recordRefusedRead } : {}),
    register: (a) => {
      opts.register?.(a);
      registerCloudHttpRoutes(a, control.handlers);
      control.registerRoutes(a);
    },
  });
}

/**
 * A store, a control plane and a buildControlApp app over them, listening on 127.0.0.1 unless
 * `listen: false`.
 */
export function servedSuite(engine: Engine, opts: ServedSuiteOptions = {}): ServedSuite {
  return suite<ServedSuite>(engine, async (s, onClose) => {
    await openControl(s, onClose, {});
    const { control } = s.t;
    const token = opts.ingestToken;
    const config = resolveConfig(token === undefined ? {} : { AUDITSTREAM_INGEST_TOKEN: token });
    const auth = opts.auth ? opts.auth(s) : token === undefined ? control.apiAuth : ingestTokenAuthenticator(token, control.apiAuth);
    const app = await buildControlApp(s.store, control, config, { auth, onRefused: opts.onRefused, register: opts.register });
    await openApp(s, onClose, app, opts);
  });
}
