/**
 * The CLI flags that mirror settings, generated from the settings table (src/config.ts), so every
 * setting has its flag and each flag's `--help` names its environment variable and default.
 */
import { Option, type Command } from 'commander';
import { defaults, flagOf, SETTINGS, type Setting, type SettingCommand } from '../config.js';

function defaultOf(s: Setting): string | undefined {
  if (s.defaultText !== undefined) return s.defaultText;
  const value = (defaults() as Record<string, unknown>)[s.key];
  if (value === undefined) return undefined;
  return value === '' ? 'empty' : String(value);
}

/** The `--help` line of a setting's flag: its text, then `(env NAME, default VALUE)`. */
export function settingHelp(s: Setting): string {
  const dflt = defaultOf(s);
  return `${s.help} (env ${s.env}${dflt === undefined ? '' : `, default ${dflt}`})`;
}

/** Adds to `cmd` the flag of every setting that `command` takes; options land under `Setting.flag`. */
export function addSettingFlags(cmd: Command, command: SettingCommand): Command {
  for (const s of SETTINGS) {
    if (!(s.commands ?? ['serve']).includes(command)) continue;
    cmd.addOption(new Option(`${flagOf(s)} <${s.arg ?? 'value'}>`, settingHelp(s)));
  }
  return cmd;
}
