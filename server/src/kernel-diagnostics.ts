// Kernel limits the config outgrows, from the runtime's probe module, placed on the line of the
// setting that outgrows them (or on the first line when the default does).
import { Diagnostic, DiagnosticSeverity } from 'vscode-languageserver/node';
import * as childProcess from 'node:child_process';
import fs from 'node:fs';
import {
  Finding, KernelLimits, Severity, findings, kernelLimits, probeKernel, systemSource,
} from '../../runtime/src/core/kernel';
import type { ConfigFile } from './config-file';
import { FixData, SOURCE, rangeOf } from './problem';

/** How the server gets the machine's limits: probed (with UNICORN_KERNEL_LIMITS applied), re-read now and then. */
export interface KernelCheck {
  limits(): KernelLimits;
}

/** Limits change when someone runs a fix; probing reads a few /proc files, so a short cache is enough. */
const PROBE_TTL_MS = 30_000;

const MACHINE = systemSource({ readFileSync: fs.readFileSync, execFileSync: childProcess.execFileSync });
const probe = () => probeKernel(process.platform, MACHINE);

export function probingKernelCheck(env: NodeJS.ProcessEnv = process.env): KernelCheck {
  // A bad UNICORN_KERNEL_LIMITS throws here, at start, where the server can say so once.
  let cached = kernelLimits(env, probe);
  let at = Date.now();
  return {
    limits() {
      if (Date.now() - at > PROBE_TTL_MS) {
        cached = kernelLimits(env, probe);
        at = Date.now();
      }
      return cached;
    },
  };
}

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
};

export function kernelDiagnostics(kernel: KernelCheck, file: ConfigFile, values: Map<string, unknown>, computed: Set<string>): Diagnostic[] {
  const settings = Object.fromEntries(values);
  const out: Diagnostic[] = [];
  const limits = kernel.limits();
  for (const f of findings(limits, settings)) {
    // A computed value is not guessed at: its finding would rest on the default instead.
    if (f.setting && computed.has(f.setting)) continue;
    out.push(diagnostic(f, file, values, limits));
  }
  return out;
}

/** The queue limit a backlog finding is about: the value "lower backlog to N" writes. */
function backlogCeiling(f: Finding, limits: KernelLimits): number | undefined {
  if (f.setting !== 'backlog') return undefined;
  if (f.id === 'somaxconn') return limits.somaxconn;
  if (f.id === 'syn-backlog') return limits.tcpMaxSynBacklog;
  return undefined;
}

function diagnostic(f: Finding, file: ConfigFile, values: Map<string, unknown>, limits: KernelLimits): Diagnostic {
  const assigned = f.setting && values.has(f.setting) ? [...file.assignments].reverse().find((a) => a.name === f.setting) : undefined;
  const ceiling = backlogCeiling(f, limits);
  const lower = ceiling !== undefined && assigned?.valueNode && assigned.value.kind === 'literal'
    ? { setting: f.setting!, value: ceiling, range: rangeOf(assigned.valueNode) } : undefined;
  const data: FixData = { kind: 'command', fix: f.fix, ...(f.command ? { command: f.command } : {}), ...(lower ? { lower } : {}) };
  const base = { severity: SEVERITY[f.severity], source: SOURCE, code: `kernel-${f.id}`, data };
  if (assigned) return { ...base, range: rangeOf(assigned.statement), message: `${f.message} Fix: ${f.fix}` };
  // The default (or the machine alone) is the problem: say so on the first line.
  const first = file.tree.rootNode.text.split('\n', 1)[0];
  const why = f.setting ? ` (${f.setting} is not set in this file, so its default applies.)` : '';
  return {
    ...base,
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: first.replace(/\r$/, '').length } },
    message: `${f.message}${why} Fix: ${f.fix}`,
  };
}
