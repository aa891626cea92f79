/**
 * What every HTTP request must satisfy before a route sees it, whatever the route: a JSON body
 * nests at most MAX_JSON_DEPTH levels, and no string or key anywhere in the body, the path
 * parameters or the query string holds a lone UTF-16 surrogate or a NUL (see record/text.ts).
 * Either is a 400 naming the field, decided before authentication and before any transaction,
 * so such a request can neither crash a handler (deep nesting makes JSON.stringify throw) nor
 * reach the database (PostgreSQL refuses NUL inside the shared group commit).
 */
import type { FastifyInstance } from 'fastify';
import { AuditError } from '../errors.js';
import { MAX_JSON_DEPTH } from '../record/limits.js';
import { findTextProblem } from '../record/text.js';

/** Throws AS_ERR_INVALID_ARGUMENT naming the field when `value` breaks the rules above. */
export function checkRequestValue(value: unknown, prefix = '', maxDepth = MAX_JSON_DEPTH): void {
  const problem = findTextProblem(value, maxDepth, prefix);
  if (problem) throw new AuditError('AS_ERR_INVALID_ARGUMENT', problem.message, { field: problem.field });
}

/**
 * Parses a JSON request body and applies the checks above. Safe for any input: V8's JSON.parse
 * does not recurse, and the check walks iteratively. Malformed JSON is INVALID_ARGUMENT too.
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AuditError('AS_ERR_INVALID_ARGUMENT', `malformed JSON body: ${(err as Error).message}`);
  }
  checkRequestValue(value, '', maxDepth);
  return value;
}

/**
 * Checks the path parameters and query string of every route. The app's JSON parser (app.ts) and
 * scopes with their own (the Cloud Ops API's HTTP mapping, via `parseJsonBody`) check bodies.
 */
export function registerRequestChecks(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    checkRequestValue(req.params, 'path');
    checkRequestValue(req.query, 'query');
  });
}
