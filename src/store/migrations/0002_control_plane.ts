/** Placeholder until the feature lands: an empty migration is skipped, not recorded. */
import type { Migration } from './index.js';

export const m0002: Migration = { id: '0002_control_plane', sqlite: '', postgres: '' };
