// Where haflow finds Temporal. Temporal's own environment configuration decides
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings, or a profile in
// temporal.toml); with none of it set, the embedded dev server (`haflow server`) on
// localhost:7233 and the `default` namespace.
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Client, Connection } from '@temporalio/client';

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

export async function connectClient(settings: TemporalSettings = temporalSettings()): Promise<Client> {
  const connection = await Connection.connect(settings.connectionOptions as Parameters<typeof Connection.connect>[0]);
  return new Client({ connection, namespace: settings.namespace });
}
