// PostgreSQL's version as Patroni and `postgres --version` give it. Pure.

/** PostgreSQL's version number as Patroni reports it (server_version 150020) → `15.20`. */
export function serverVersionText(num: number): string {
  return num >= 100000 ? `${Math.floor(num / 10000)}.${num % 10000}` : `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;
}

/** `postgres --version` → `15.20`. */
export function parsePostgresVersion(text: string): string | undefined {
  return /\(PostgreSQL\)\s+(\d+(?:\.\d+)*)/.exec(text)?.[1];
}
