/**
 * The published record schemas (`schemas/*.schema.json`) as files: where they are, reading them
 * once, and the Ajv configuration every auditstream schema is compiled with. The JSON files are
 * the single source of truth; what is published is exactly what is enforced.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The two published profiles. */
export type SchemaProfile = 'accepted' | 'emitted';

/** A JSON Schema document as parsed JSON. */
export type JsonSchema = { readonly [key: string]: unknown };

// ajv and ajv-formats are CommonJS with `exports.default`; under NodeNext the default import is
// `module.exports`, which is the class/function itself at run time but typed as the namespace.
type Ajv2020Ctor = typeof Ajv2020Module.default;
const Ajv2020: Ajv2020Ctor = (Ajv2020Module as unknown as { default?: Ajv2020Ctor }).default ?? (Ajv2020Module as unknown as Ajv2020Ctor);
type AddFormats = typeof addFormatsModule.default;
const addFormats: AddFormats = (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** An Ajv instance configured as every auditstream schema expects (draft 2020-12, formats, strict). */
export type SchemaCompiler = InstanceType<Ajv2020Ctor>;

/** A new Ajv for auditstream schemas: strict mode, first error only, RFC 3339 and other formats. */
export function createSchemaCompiler(): SchemaCompiler {
  const ajv = new Ajv2020({ strict: true, allErrors: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}

/**
 * The repository root: the nearest folder at or above `start` holding package.json. Sources run
 * from dist/src/record/ after compilation, so a fixed relative path would be wrong in one layout.
 */
export function findRepoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json found at or above ${start}`);
    dir = parent;
  }
}

/** Absolute path of a published schema file (also what an API would serve). */
export function schemaPath(profile: SchemaProfile): string {
  return join(findRepoRoot(), 'schemas', `audit-record.${profile}.schema.json`);
}

const schemaCache = new Map<SchemaProfile, JsonSchema>();

/** The parsed schema document of a profile, read once and deep-frozen (shared by every caller). */
export function readSchema(profile: SchemaProfile): JsonSchema {
  let schema = schemaCache.get(profile);
  if (schema === undefined) {
    schema = deepFreeze(JSON.parse(readFileSync(schemaPath(profile), 'utf8')) as JsonSchema);
    schemaCache.set(profile, schema);
  }
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
