/** Every group of Cloud Ops API handlers the control plane serves. */
import type { CloudHandlers } from '../../api/cloud/handlers.js';
import type { ControlPlane } from '../context.js';
import { accountHandlers } from './account.js';
import { apiKeyHandlers } from './apikeys.js';
import { namespaceHandlers } from './namespaces.js';
import { operationHandlers } from './operations.js';
import { sinkHandlers } from './sinks.js';
import { userHandlers } from './users.js';

export const HANDLER_GROUPS: readonly ((cp: ControlPlane) => CloudHandlers)[] = [
  accountHandlers,
  userHandlers,
  namespaceHandlers,
  apiKeyHandlers,
  operationHandlers,
  sinkHandlers,
];
