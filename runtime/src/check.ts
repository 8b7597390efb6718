// `unicorn check [--json] [OPTIONS] [APP_MODULE]`: resolve the settings as a run would, probe the
// kernel limits, and print every finding with its fix and, when it has one, its runnable command.
// Exit 0 without error findings, 1 with one.
//
// `check` is the subcommand only as the very first argument; an app is always MODULE:CALLABLE or a
// module, so an app in a module named check is served as `unicorn check:app` (or check:application).
import { CliName, helpText } from './core/args';
import { resolveInvocation } from './config';
import { EXIT } from './core/errors';
import {
  Finding, KernelLimits, LIMITS_ENV, OpenFilesNeed, describeLimits, findings, limitsFromEnv, openFilesNeed,
} from './core/kernel';
import { machineLimits } from './kernel-probe';
import { parseAddress } from './core/address';
import { Settings } from './core/settings';

export const CHECK_COMMAND = 'check';

/** True when argv asks for `unicorn check` rather than naming an app or options. */
export function isCheckCommand(argv: string[]): boolean {
  return argv[0] === CHECK_COMMAND;
}

function checkHelp(name: CliName): string {
  const runHelp = helpText(name);
  return [
    `usage: ${name} check [--json] [OPTIONS]${name === 'unicorn' ? ' [APP_MODULE]' : ''}`,
    '',
    'Compare the kernel limits gunicorn\'s "Kernel Parameters" names (open files, listen queue, SYN queue,',
    'ephemeral ports) with the settings a run with the same OPTIONS would use, and print each finding',
    'with how to fix it and, when one command does, that command alone on a "run:" line. Exit 0 when no',
    'finding is an error, 1 otherwise, 2 on bad input.',
    '',
    '  --json',
    '      Print the limits and findings as JSON.',
    '',
    `${LIMITS_ENV} overrides probed values with JSON, e.g. ${LIMITS_ENV}='{"somaxconn":128,"nofileSoft":256}'`,
    '(keys: platform, nofileSoft, nofileHard (null: unlimited), somaxconn, tcpMaxSynBacklog, portRange [first, last]).',
    '',
    ...(name === 'unicorn'
      ? ['"check" is this command only as the first argument: serve an app in a module named check as unicorn check:app.', '']
      : []),
    'The OPTIONS are those of a run:',
    runHelp.slice(runHelp.indexOf('\noptions:') + 1),
  ].join('\n');
}

/** Takes --json out of argv (before a `--`, where it cannot be an app). */
function splitJsonFlag(argv: string[]): { json: boolean; rest: string[] } {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  const rest = head.filter((a) => a !== '--json');
  return { json: rest.length !== head.length, rest: [...rest, ...tail] };
}

export interface CheckReport {
  limits: KernelLimits;
  /** Fields that UNICORN_KERNEL_LIMITS set rather than the probe. */
  overridden: string[];
  openFiles: OpenFilesNeed;
  findings: Finding[];
  ok: boolean;
}

export function checkReport(settings: Settings, env: NodeJS.ProcessEnv = process.env): CheckReport {
  const limits = machineLimits(env);
  const found = findings(limits, settings);
  return {
    limits,
    overridden: Object.keys(limitsFromEnv(env)),
    openFiles: openFilesNeed(settings),
    findings: found,
    ok: !found.some((f) => f.severity === 'error'),
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function formatReport(report: CheckReport, settings: Settings): string {
  const rows = describeLimits(report.limits);
  const width = Math.max(...rows.map(([what]) => what.length));
  const out = [`Kernel limits (${report.limits.platform}):`, ...rows.map(([what, value]) => `  ${what.padEnd(width)}  ${value}`)];
  if (report.overridden.length) out.push(`  from ${LIMITS_ENV}: ${report.overridden.join(', ')}`);
  const need = report.openFiles;
  out.push(
    '',
    `Settings: backlog ${settings.backlog}, ${plural(need.workers, 'worker')} (${settings.worker_class}), ${plural(need.listeners, 'listener')}; ` +
      `open files needed, estimated: ${need.worker} per worker, ${need.arbiter} for the arbiter.`,
    '',
  );
  for (const f of report.findings) {
    // The explanation, then the runnable command alone on its line, for copying as it stands.
    out.push(`${f.severity.toUpperCase()} [${f.id}${f.setting ? `, setting ${f.setting}` : ''}] ${f.message}`, `  fix: ${f.fix}`);
    if (f.command) out.push(`  run: ${f.command}`);
    out.push('');
  }
  const by = (s: string) => report.findings.filter((f) => f.severity === s).length;
  out.push(
    report.findings.length
      ? `${plural(by('error'), 'error')}, ${plural(by('warning'), 'warning')}, ${by('info')} info.`
      : 'No findings: the kernel limits fit these settings.',
  );
  return out.join('\n') + '\n';
}

/** Runs `NAME check ARGV` (argv without the word check); returns the exit code. Throws CliError on bad input. */
export async function runCheck(
  name: CliName,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<number> {
  const { json, rest } = splitJsonFlag(argv);
  limitsFromEnv(env); // a bad UNICORN_KERNEL_LIMITS is reported before the config file is run
  const invocation = await resolveInvocation(name, rest, env, cwd, { appOptional: true });
  if (invocation.kind === 'help') {
    process.stdout.write(checkHelp(name));
    return EXIT.OK;
  }
  if (invocation.kind === 'version') {
    process.stdout.write(invocation.text);
    return EXIT.OK;
  }
  const settings = invocation.config.settings;
  (settings.bind as string[]).forEach(parseAddress); // a bind a run would refuse is refused here too
  const report = checkReport(settings, env);
  process.stdout.write(json ? JSON.stringify({ ...report, app: invocation.config.app }, null, 2) + '\n' : formatReport(report, settings));
  return report.ok ? EXIT.OK : EXIT.FAILURE;
}
