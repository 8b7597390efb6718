// The kernel checks' side effects, kept out of core/kernel.ts: probing this machine (/proc, sysctl,
// the shell's ulimit) and logging the findings.
import * as childProcess from 'node:child_process';
import fs from 'node:fs';
import { Finding, KernelLimits, kernelLimits, probeKernel, shortFinding, systemSource } from './core/kernel';
import type { Logger } from './log';

export const SYSTEM_SOURCE = systemSource({ readFileSync: fs.readFileSync, execFileSync: childProcess.execFileSync });

/** This machine's limits, as probed. */
export function probeMachine(): KernelLimits {
  return probeKernel(process.platform, SYSTEM_SOURCE);
}

/** This machine's limits with UNICORN_KERNEL_LIMITS applied. Throws CliError when the variable is bad. */
export function machineLimits(env: NodeJS.ProcessEnv = process.env): KernelLimits {
  return kernelLimits(env, probeMachine);
}

/**
 * One short line per finding at start, at its severity: what is wrong with the numbers. The fix,
 * with its commands, is `unicorn check`'s to print (and the editor's Problems and hover).
 */
export function logFindings(log: Logger, found: Finding[]): void {
  for (const f of found) log.log(f.severity, `${shortFinding(f.message)} — "unicorn check" shows the fix [${f.id}]`);
}
