/**
 * Page size and page token handling shared by the list RPCs: tokens are opaque (base64url of the
 * last key seen), bad sizes and tokens are INVALID_ARGUMENT (never a code the client retries).
 */
import { invalidArgument } from '../errors.js';

export const DEFAULT_LIST_PAGE = 100;
export const MAX_LIST_PAGE = 1000;

export function pageSizeOf(raw: unknown): number {
  const n = Number(raw ?? 0);
  if (!Number.isInteger(n) || n < 0) throw invalidArgument('page_size must be a non-negative integer');
  if (n > MAX_LIST_PAGE) throw invalidArgument(`page_size must be at most ${MAX_LIST_PAGE}`);
  return n === 0 ? DEFAULT_LIST_PAGE : n;
}

export function encodePageToken(key: string): string {
  return Buffer.from(`k:${key}`).toString('base64url');
}

/** The key after which the page starts ('' for the first page). */
export function decodePageToken(token: unknown): string {
  if (token === undefined || token === null || token === '') return '';
  const text = Buffer.from(String(token), 'base64url').toString('utf8');
  if (!text.startsWith('k:')) throw invalidArgument('page_token is not a token this server issued');
  return text.slice(2);
}

/** Given `limit + 1` rows ordered by key, the page and the next token. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => string): { items: T[]; nextPageToken: string } {
  if (rows.length <= limit) return { items: rows, nextPageToken: '' };
  const items = rows.slice(0, limit);
  return { items, nextPageToken: encodePageToken(keyOf(items[items.length - 1]!)) };
}
