/**
 * RFC 3339 timestamps and `"1.5s"` durations, the proto3 JSON spellings of
 * `google.protobuf.Timestamp` and `google.protobuf.Duration`, converted exactly (nanosecond
 * precision, no `Date` rounding) to and from the plain `{ seconds: string, nanos: number }` shape.
 * Limits are the ones the WKT definitions state: years 0001..9999, durations within ±10 000 years.
 */

/** A Timestamp or Duration as handlers see it: int64 seconds as a decimal string, nanos 0..999 999 999 (signed like seconds for a Duration). */
export interface SecondsNanos {
  seconds: string;
  nanos: number;
}

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, from timestamp.proto. */
const MIN_TS_SECONDS = -62135596800;
const MAX_TS_SECONDS = 253402300799;
/** ±10 000 years, from duration.proto. */
const MAX_DURATION_SECONDS = 315576000000;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z0: number): [number, number, number] {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The fraction protojson prints: none, or 3, 6 or 9 digits, whichever is exact. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  if (nanos % 1_000_000 === 0) return '.' + pad(nanos / 1_000_000, 3);
  if (nanos % 1_000 === 0) return '.' + pad(nanos / 1_000, 6);
  return '.' + pad(nanos, 9);
}

const nanosOf = (digits: string | undefined) => (digits ? Number(digits.padEnd(9, '0')) : 0);

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp (any offset, up to 9 fractional digits); returns an error text on failure. */
export function parseTimestamp(text: string): SecondsNanos | string {
  const m = TS_RE.exec(text);
  if (!m) return `expected an RFC 3339 timestamp like "2024-01-02T03:04:05Z", got ${JSON.stringify(text)}`;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return `invalid date or time in ${JSON.stringify(text)}`;
  }
  let offset = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return `invalid UTC offset in ${JSON.stringify(text)}`;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
  if (seconds < MIN_TS_SECONDS || seconds > MAX_TS_SECONDS) return `timestamp ${JSON.stringify(text)} is outside 0001..9999`;
  return { seconds: String(seconds), nanos: nanosOf(m[7]) };
}

/** Formats a Timestamp as RFC 3339 in UTC (`Z`), like protojson; throws on out-of-range values. */
export function formatTimestamp(seconds: string | number, nanos: number): string {
  const secs = Number(seconds);
  if (!Number.isInteger(secs) || secs < MIN_TS_SECONDS || secs > MAX_TS_SECONDS) throw new RangeError(`timestamp seconds ${seconds} out of range`);
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) throw new RangeError(`timestamp nanos ${nanos} out of range`);
  const days = Math.floor(secs / 86400);
  const rem = secs - days * 86400;
  const [y, mo, d] = civilFromDays(days);
  const time = `${pad(Math.floor(rem / 3600), 2)}:${pad(Math.floor((rem % 3600) / 60), 2)}:${pad(rem % 60, 2)}`;
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${time}${fraction(nanos)}Z`;
}

const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

/** Parses a proto3 JSON duration (`"5s"`, `"-1.5s"`, `"0.000000001s"`); returns an error text on failure. */
export function parseDuration(text: string): SecondsNanos | string {
  const m = DURATION_RE.exec(text);
  if (!m) return `expected a duration like "5s" or "1.5s", got ${JSON.stringify(text)}`;
  const secs = Number(m[2]);
  if (secs > MAX_DURATION_SECONDS) return `duration ${JSON.stringify(text)} exceeds 10000 years`;
  const sign = m[1] ? -1 : 1;
  const nanos = nanosOf(m[3]);
  // `-0` would print as "-0"; normalise so that "-0s" is plain zero.
  return { seconds: String(secs === 0 ? 0 : sign * secs), nanos: nanos === 0 ? 0 : sign * nanos };
}

/** Formats a Duration like protojson (`"5s"`, `"-1.500s"`); throws on out-of-range or mixed-sign values. */
export function formatDuration(seconds: string | number, nanos: number): string {
  const secs = Number(seconds);
  if (!Number.isInteger(secs) || Math.abs(secs) > MAX_DURATION_SECONDS) throw new RangeError(`duration seconds ${seconds} out of range`);
  if (!Number.isInteger(nanos) || Math.abs(nanos) > 999_999_999) throw new RangeError(`duration nanos ${nanos} out of range`);
  if ((secs < 0 && nanos > 0) || (secs > 0 && nanos < 0)) throw new RangeError('duration seconds and nanos differ in sign');
  const negative = secs < 0 || nanos < 0;
  return `${negative ? '-' : ''}${Math.abs(secs)}${fraction(Math.abs(nanos))}s`;
}
