/**
 * One source of configuration: the settings table in src/config.ts is the only reader of the
 * environment, and every setting has a generated flag whose `--help` names its variable and
 * default. The flags are checked on the real command tree and on the real executable.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { defaults, flagOf, resolveConfig, SETTINGS, type SettingCommand } from '../src/config.js';
import { buildProgram } from '../src/cli/main.js';
import { settingHelp } from '../src/cli/flags.js';
import { runCli } from './helpers/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The command object of `serve`, `accounts create`, ... in the real program. */
function commandOf(program: Command, path: SettingCommand): Command {
  let cmd = program;
  for (const part of path.split(' ')) {
    const next = cmd.commands.find((c) => c.name() === part);
    assert.ok(next, `no command ${path}`);
    cmd = next;
  }
  return cmd;
}

async function helpOf(path: SettingCommand): Promise<string> {
  let out = '';
  const program = buildProgram({ out: (t) => void (out += t), err: () => {} });
  await assert.rejects(program.parseAsync(['node', 'auditstream', ...path.split(' '), '--help']), { code: 'commander.helpDisplayed' });
  return out;
}

describe('one source of configuration', () => {
  it('no file under src/ but src/config.ts reads the process environment', () => {
    const files = walk(join(root, 'src')).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 20, `found only ${files.length} source files`);
    const offenders = files
      .filter((f) => relative(root, f) !== join('src', 'config.ts'))
      .filter((f) => /process\s*(\.\s*env\b|\[\s*['"`]env['"`]\s*\])/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f));
    assert.deepEqual(offenders, [], `read the setting through src/config.ts instead: ${offenders.join(', ')}`);
  });

  it('every setting has a flag in `serve --help` (or its own command), naming its variable and default', async () => {
    const program = buildProgram({ out: () => {}, err: () => {} });
    const helps = new Map<SettingCommand, string>();
    for (const s of SETTINGS) {
      const commands = s.commands ?? ['serve'];
      assert.ok(s.help.trim() !== '', `${s.env} has no help text`);
      for (const command of commands) {
        if (!helps.has(command)) helps.set(command, await helpOf(command));
        // Help wraps long lines: compare with whitespace collapsed.
        const help = helps.get(command)!.replace(/\s+/g, ' ');
        assert.ok(help.includes(`${flagOf(s)} <`), `${command} --help lacks ${flagOf(s)}`);
        assert.ok(help.includes(settingHelp(s).replace(/\s+/g, ' ')), `${command} --help lacks the text of ${flagOf(s)}: ${settingHelp(s)}`);
        // The parsed value lands where resolveConfig reads it.
        const option = commandOf(program, command).options.find((o) => o.long === flagOf(s));
        assert.equal(option?.attributeName(), s.flag, `${command} ${flagOf(s)}`);
      }
    }
    // Every setting but the client-side two is a serve flag: serve is where the server is configured.
    const serveHelp = (await helpOf('serve')).replace(/\s+/g, ' ');
    for (const s of SETTINGS.filter((x) => !(x.commands ?? ['serve']).includes('serve'))) assert.deepEqual(s.commands, ['sinks'], s.env);
    for (const s of SETTINGS.filter((x) => (x.commands ?? ['serve']).includes('serve'))) {
      assert.ok(serveHelp.includes(`(env ${s.env}`), `serve --help does not name ${s.env}`);
    }
  });

  it('the table is consistent: unique variables and flags, a default for every key', () => {
    const envs = SETTINGS.map((s) => s.env);
    const flags = SETTINGS.map((s) => s.flag);
    assert.equal(new Set(envs).size, envs.length);
    assert.equal(new Set(flags).size, flags.length);
    const keys = Object.keys(defaults());
    for (const s of SETTINGS) assert.ok(keys.includes(s.key), `${s.key} has no default`);
    for (const k of keys)
      assert.ok(
        SETTINGS.some((s) => s.key === k),
        `default ${k} has no setting`,
      );
  });

  it('a flag wins over its variable, and a bad value names the variable or the flag', () => {
    const env = {
      AUDITSTREAM_URL: 'http://127.0.0.1:1',
      AUDITSTREAM_API_KEY: 'from-env',
      AUDITSTREAM_MAX_BODY_BYTES: '2048',
      AUDITSTREAM_GCP_SERVICE_ACCOUNT: 'a@p.iam.gserviceaccount.com',
    };
    const c = resolveConfig(env, { url: 'https://example.test:8443/', apiKey: 'from-flag', maxBodyBytes: '4096' });
    assert.equal(c.apiUrl, 'https://example.test:8443');
    assert.equal(c.apiKey, 'from-flag');
    assert.equal(c.maxBodyBytes, 4096);
    assert.equal(c.gcpServiceAccount, 'a@p.iam.gserviceaccount.com');
    const refused: [Record<string, string>, Record<string, string>, RegExp][] = [
      [{ AUDITSTREAM_CFN_TEMPLATE_URL: 'http://bucket.s3.amazonaws.com/t.json' }, {}, /AUDITSTREAM_CFN_TEMPLATE_URL must be a https URL/],
      [{}, { cfnTemplateUrl: 'not a url' }, /--cfn-template-url must be a https URL/],
      [{ AUDITSTREAM_AWS_PRINCIPAL_ARN: 'auditstream' }, {}, /AUDITSTREAM_AWS_PRINCIPAL_ARN must be an IAM principal ARN/],
      [{}, { gcpServiceAccount: 'nobody' }, /--gcp-service-account must be a service account email/],
      [{ AUDITSTREAM_URL: 'ftp://x' }, {}, /AUDITSTREAM_URL must be a http or https URL/],
      [{}, { retentionBatchSize: '0' }, /--retention-batch-size must be a whole number/],
    ];
    for (const [e, f, re] of refused)
      assert.throws(
        () => resolveConfig(e, f),
        (err: Error) => re.test(err.message),
        `${JSON.stringify([e, f])}`,
      );
  });

  it('the executable: a serve flag with a bad value is a usage error naming the flag; sinks take --url and --api-key', async () => {
    const bad = await runCli(['serve', '--max-body-bytes', 'lots']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--max-body-bytes must be a whole number/);
    // Port 9 (discard) is closed on loopback: the error names the URL given by flag, not the variable's.
    const sinks = await runCli(['sinks', 'list', '--url', 'http://127.0.0.1:9', '--api-key', 'as_x_y'], {
      AUDITSTREAM_URL: 'http://127.0.0.1:1',
      AUDITSTREAM_API_KEY: '',
    });
    assert.equal(sinks.code, 1, sinks.stderr);
    assert.match(sinks.stderr, /cannot reach http:\/\/127\.0\.0\.1:9 /);
    const noKey = await runCli(['sinks', 'list'], { AUDITSTREAM_API_KEY: '' });
    assert.equal(noKey.code, 2, noKey.stderr);
    assert.match(noKey.stderr, /AUDITSTREAM_API_KEY is not set \(or --api-key\)/);
  });
});
