/**
 * Optimistic concurrency for every mutable resource (accounts, users, namespaces, API keys,
 * sinks): each change stores a new opaque `resource_version`; an update or delete that names an
 * older one is refused, so two editors never overwrite each other unknowingly.
 */
import { randomBytes } from 'node:crypto';
import { failedPrecondition } from './errors.js';

/** A fresh opaque version, new on every change. */
export function newResourceVersion(): string {
  return randomBytes(8).toString('hex');
}

/** FAILED_PRECONDITION when `given` is set and is not `current` (empty means "whatever is there"). */
export function checkVersion(given: string, current: string, what: string): void {
  if (given !== '' && given !== current) {
    throw failedPrecondition(`${what} was modified since resource_version ${given} (now ${current}): read it again and retry`);
  }
}
