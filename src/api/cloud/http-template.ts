/**
 * `google.api.http` path templates to Fastify routes. Variables become positional parameters
 * (`/cloud/namespaces/{namespace}/export-sinks/{spec.name}` → `/cloud/namespaces/:p0/export-sinks/:p1`)
 * because find-my-way ends a parameter name at `.` or `-` (`{spec.name}` would otherwise be read
 * as `:spec` followed by the literal `.name`). A parameter matches one path segment; its value is
 * percent-decoded, so it may contain dots (namespace ids like `ns.acct`) and, encoded as %2F, slashes.
 */

export interface PathVariable {
  /** The Fastify parameter name (`p0`). */
  param: string;
  /** The request field it sets, as proto names (`['spec', 'name']`). */
  fieldPath: string[];
}

export interface CompiledPath {
  /** The Fastify route URL. */
  url: string;
  variables: PathVariable[];
}

const VARIABLE = /^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:=([^}]*))?\}$/;
const LITERAL = /^[A-Za-z0-9._~-]*$/;

/** Splits on the slashes outside `{...}`, so `{name=projects/*}` stays one (rejected) variable. */
function splitSegments(path: string): string[] {
  const segments = [''];
  let depth = 0;
  for (const ch of path) {
    if (ch === '{') depth++;
    else if (ch === '}') depth--;
    if (ch === '/' && depth === 0) segments.push('');
    else segments[segments.length - 1] += ch;
  }
  return segments;
}

/**
 * Compiles one template. Throws on what no Cloud API rule uses today (multi-segment patterns other
 * than a trailing `**`, custom `:verb` suffixes), so a proto bump that needs them fails at startup
 * and in the tests instead of routing wrongly.
 */
export function compilePathTemplate(template: string): CompiledPath {
  if (!template.startsWith('/')) throw new Error(`path template ${template} must start with /`);
  const segments = splitSegments(template.slice(1));
  const variables: PathVariable[] = [];
  const url = segments.map((segment, i) => {
    const v = VARIABLE.exec(segment);
    if (v) {
      const pattern = v[2];
      const fieldPath = v[1]!.split('.');
      if (pattern === undefined || pattern === '*') {
        const param = `p${variables.length}`;
        variables.push({ param, fieldPath });
        return `:${param}`;
      }
      if (pattern === '**' && i === segments.length - 1) {
        variables.push({ param: '*', fieldPath });
        return '*';
      }
      throw new Error(`path template ${template}: unsupported variable pattern ${pattern}`);
    }
    if (!LITERAL.test(segment)) throw new Error(`path template ${template}: unsupported segment ${segment}`);
    return segment;
  });
  return { url: `/${url.join('/')}`, variables };
}
