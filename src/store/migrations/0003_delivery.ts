/** Placeholder until the feature lands: an empty migration is skipped, not recorded. */
import type { Migration } from './index.js';

export const m0003: Migration = { id: '0003_delivery', sqlite: '', postgres: '' };
