// The client's connection to Temporal, with the settings the worker uses too (connection/).
import { Client, Connection } from '@temporalio/client';
import { haflowDataConverter } from '../connection/codec';
import { temporalSettings, unreachableMessage, type TemporalSettings } from '../connection/temporal';

export async function connectClient(settings: TemporalSettings = temporalSettings()): Promise<Client> {
  // Read first: a wrong key is said before anything connects.
  const dataConverter = haflowDataConverter();
  let connection: Connection;
  try {
    connection = await Connection.connect(settings.connectionOptions as Parameters<typeof Connection.connect>[0]);
  } catch (err) {
    throw new Error(unreachableMessage(settings, err as Error));
  }
  return new Client({ connection, namespace: settings.namespace, dataConverter });
}
