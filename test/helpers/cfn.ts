/** cfn-lint on a CloudFormation template text: its exit code and output. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function cfnLint(template: string): Promise<{ code: number; text: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-cfn-'));
  try {
    const file = join(dir, 'template.json');
    writeFileSync(file, template);
    return await new Promise((resolve) => {
      execFile('cfn-lint', [file], (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, text: `${stdout}${stderr}` }),
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
