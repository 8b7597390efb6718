// The command line: every flag comes from the settings registry; parsing, help text and the
// shell-style splitting of UNICORN_CMD_ARGS. Pure: the CLI, `unicorn check`, the extension (which
// builds command lines) and the language server share it.
import { Command, CommanderError, Option } from 'commander';
import { parse as shellParse } from 'shell-quote';
import { CliError } from './errors';
import { SETTINGS, Setting } from './settings';

export type CliName = 'unicorn' | 'unicorn-django';

/** What one command line (or UNICORN_CMD_ARGS) said, before coercion. */
export interface ParsedArgs {
  /** Setting name → raw value (string, string[] for repeatable flags, boolean for switches). */
  values: Map<string, unknown>;
  app?: string;
  host?: string;
  port?: string;
  help: boolean;
  version: boolean;
}

function optionFor(setting: Setting): Option {
  const flags = setting.flags.join(', ') + (setting.type === 'bool' ? '' : ` <${setting.metavar ?? 'VALUE'}>`);
  const opt = new Option(flags, setting.doc);
  if (setting.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  return opt;
}

function buildCommand(name: CliName): { cmd: Command; bySetting: Map<string, Setting> } {
  const cmd = new Command(name)
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .option('-h, --help', 'show this help and exit')
    .option('-v, --version', 'show the version and exit')
    .option('--host <HOST>', 'host to bind (with --port; the original pair, same as -b HOST:PORT)')
    .option('--port <PORT>', 'port to bind (with --host)');
  if (name === 'unicorn') cmd.argument('[APP_MODULE]');
  const bySetting = new Map<string, Setting>();
  for (const setting of SETTINGS) {
    if (!setting.flags.length) continue;
    const opt = optionFor(setting);
    bySetting.set(opt.attributeName(), setting);
    cmd.addOption(opt);
  }
  return { cmd, bySetting };
}

/** Parses one argument vector; `source` names it in errors ("command line", "UNICORN_CMD_ARGS"). */
export function parseArgs(name: CliName, argv: string[], source: string): ParsedArgs {
  const { cmd, bySetting } = buildCommand(name);
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      const msg = e.message.replace(/^error:\s*/, '').replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)');
      throw new CliError(`${source}: ${msg} — see ${name} --help`);
    }
    throw e;
  }
  const opts = cmd.opts();
  const values = new Map<string, unknown>();
  for (const [attr, value] of Object.entries(opts)) {
    const setting = bySetting.get(attr);
    // Commander gives `--no-x` flags a default of true; only what the user typed counts.
    if (setting && value !== undefined && cmd.getOptionValueSource(attr) === 'cli') values.set(setting.name, value);
  }
  return {
    values,
    app: cmd.args[0],
    host: opts.host,
    port: opts.port,
    help: Boolean(opts.help),
    version: Boolean(opts.version),
  };
}

export function helpText(name: CliName): string {
  const lines: string[] = [];
  if (name === 'unicorn') {
    lines.push('usage: unicorn [OPTIONS] [APP_MODULE]', '', 'Serve a WSGI app (MODULE:CALLABLE) with pre-forked Python workers.');
  } else {
    lines.push('usage: unicorn-django [OPTIONS]', '', 'Serve the Django project in the current directory (or --chdir): finds manage.py,',
      'takes DJANGO_SETTINGS_MODULE from the environment or from manage.py.');
  }
  lines.push('', 'options:');
  const row = (flags: string, doc: string) => {
    lines.push(`  ${flags}`);
    lines.push(`      ${doc}`);
  };
  row('-h, --help', 'Show this help and exit.');
  row('-v, --version', 'Show the version and exit.');
  row('--host HOST, --port PORT', 'The original pair: same as -b HOST:PORT (default host 127.0.0.1, port 8000).');
  for (const s of SETTINGS) {
    if (!s.flags.length || s.unsupported) continue;
    const flags = s.flags.join(', ') + (s.type === 'bool' ? '' : ` ${s.metavar ?? 'VALUE'}`);
    const def = s.defaultText ?? (s.default === null ? 'none' : JSON.stringify(s.default));
    row(flags, `${s.doc.split('. ')[0].replace(/\.$/, '')}. [default: ${def}]`);
  }
  lines.push('', 'Not supported yet (refused when given): ' +
    SETTINGS.filter((s) => s.unsupported && s.flags.length).map((s) => s.flags[s.flags.length - 1]).join(' ') + '.');
  lines.push('', 'Config: -c FILE, else ./unicorn.conf.py, else ./gunicorn.conf.py. Precedence: defaults < config file <',
    'UNICORN_CMD_ARGS (or GUNICORN_CMD_ARGS) < command line.');
  return lines.join('\n') + '\n';
}

/** Splits UNICORN_CMD_ARGS the way a shell would; operators (`;`, `|`, …) are refused. */
export function shellSplit(text: string, source: string): string[] {
  const parts = shellParse(text);
  return parts.map((p) => {
    if (typeof p !== 'string') throw new CliError(`${source}: shell operators are not allowed in it — give plain options, e.g. ${source}="--workers 3"`);
    return p;
  });
}
