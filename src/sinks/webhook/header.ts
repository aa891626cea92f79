/** `Name: value` split at the first colon (the sink's extra headers). */
export function splitHeader(line: string): { name: string; value: string } {
  const i = line.indexOf(':');
  return { name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() };
}
