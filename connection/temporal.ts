// Where haflow finds Temporal, for the client and the worker alike. Temporal's own environment
// configuration decides (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings,
// or a profile in temporal.toml); with none of it set, the embedded dev server (`haflow
// server`) on localhost:7233 and the `default` namespace.
import { loadClientConnectConfig } from '@temporalio/envconfig';

/** The task queue every haflow worker polls and every haflow workflow runs on. */
export const TASK_QUEUE = 'haflow';

export const EMBEDDED_ADDRESS = 'localhost:7233';

export interface TemporalSettings {
  address: string;
  namespace: string;
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = connectionOptions.address ?? EMBEDDED_ADDRESS;
  // The native connection rejects keys present with an undefined value (apiKey, tls, metadata).
  const defined = Object.fromEntries(Object.entries(connectionOptions).filter(([, value]) => value !== undefined));
  return { address, namespace: namespace ?? 'default', connectionOptions: { ...defined, address } };
}

/** Said when Temporal cannot be reached, by the client and the worker alike. */
export function unreachableMessage(settings: TemporalSettings, err: Error): string {
  return (
    `cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${err.message}\n` +
    'Start the embedded server with `haflow server`, or set TEMPORAL_ADDRESS to your Temporal cluster.'
  );
}
