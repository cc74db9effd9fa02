// `haflow …` in its own process, as an operator runs it, against a test's Temporal server: its
// exit code, standard output and standard error apart (for checks that --json prints JSON alone).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export function haflowProcess(temporalAddress: string, dataHome: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(__dirname, '../../bin/haflow.js'), ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: 'default', XDG_DATA_HOME: dataHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
