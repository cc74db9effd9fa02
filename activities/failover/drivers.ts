// Fault drivers: the topology's commands for a machine's power and network (`faults:`), run on
// the worker. The machine's name and address are substituted shell-quoted; haflow's own bin
// directory comes first on PATH, so `haflow lab …` (the lab topologies' drivers) names this
// installation. A driver gets the worker's minimal environment (shared/local-process.ts), and
// what it prints comes back without a secret the worker knows. The drill code knows nothing
// else about how a machine loses power.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { FaultDrivers, Host, Topology } from '../../topology';
import { StepFailureTypes } from '../contract';
import { commandEnvironment, redactCommandOutput } from '../shared/local-process';
import { shellQuote } from '../shared/shell';
import { heartbeat, withinAttempt } from '../shared/step-activity';

const HAFLOW_BIN = join(__dirname, '../../bin');

/** The driver's command line for a host: placeholders replaced, each value quoted. */
export function driverCommand(template: string, host: Host): string {
  return template.replace(/\{(host|address)\}/g, (_, field: 'host' | 'address') => shellQuote(field === 'host' ? host.name : host.address));
}

export interface DriverRun {
  command: string;
  /** When the worker started the command, and when it returned (epoch ms). */
  startedAt: number;
  finishedAt: number;
  output: string;
}

export async function runDriver(topology: Topology, driver: keyof FaultDrivers, host: Host, timeoutMs = 120_000): Promise<DriverRun> {
  const template = topology.faults[driver];
  if (!template) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.invalidConfig,
      nonRetryable: true,
      message: `the fault driver faults.${driver} is not set in the topology of cluster ${topology.cluster}`,
      details: [{ remedy: `set faults.${driver} to the command that does it on your site (for example an IPMI or cloud CLI call with {host})` }],
    });
  }
  const command = driverCommand(template, host);
  const startedAt = Date.now();
  const beat = setInterval(() => heartbeat(`faults.${driver}: ${command}`), 1000);
  try {
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        { timeout: withinAttempt(timeoutMs), env: commandEnvironment({}, { pathFirst: HAFLOW_BIN }), maxBuffer: 4 * 1024 * 1024 },
        (err, stdout, stderr) => {
          // Cleaned whole, then cut: a secret cut in two at the cut would no longer be found.
          const out = redactCommandOutput(`${stdout}${stderr}`, topology).trim();
          if (err) reject(new Error(`${out.slice(-800) || redactCommandOutput(err.message, topology)}`));
          else resolve(out);
        },
      );
    });
    return { command, startedAt, finishedAt: Date.now(), output: output.slice(-800) };
  } catch (err) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      message: `faults.${driver} for ${host.name} failed: \`${command}\`: ${(err as Error).message}`,
      details: [{ remedy: `run \`${command}\` by hand on the worker to see why; fix the driver or the machine, then retry` }],
    });
  } finally {
    clearInterval(beat);
  }
}
