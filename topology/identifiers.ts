// The shapes of the values that end up inside configuration files and command lines: role
// names in pg_hba.conf, paths in haproxy.cfg and /etc/default/etcd, users in sudo and chown,
// unit names in systemctl. The schema refuses anything else (with file:line:column), and the
// renderers refuse it again, so a value that is not one of these can never add a directive,
// a pg_hba rule or a shell word to what haflow writes.

export interface IdentifierKind {
  pattern: RegExp;
  /** What a valid value looks like, in an operator's words. */
  says: string;
}

export const IDENTIFIERS = {
  pgRole: {
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    says: 'a PostgreSQL name such as replicator: lower-case letters, digits and _, starting with a letter or _, at most 63 characters',
  },
  unixUser: {
    pattern: /^[a-z_][a-z0-9_.-]{0,31}$/,
    says: 'a Unix user name such as motadata: lower-case letters, digits, _ . -, starting with a letter or _, at most 32 characters',
  },
  hostPath: {
    pattern: /^\/[A-Za-z0-9._+@%,:/-]{0,254}$/,
    says: 'an absolute path such as /var/lib/etcd/default: letters, digits and . _ - + @ % , : / only (no spaces, quotes or line breaks)',
  },
  localPath: {
    pattern: /^(\/|~\/)[^\0-\x1f\x7f]{0,4094}$/,
    says: 'an absolute path or one starting with ~/, without control characters',
  },
  token: {
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    says: 'letters, digits and . _ - only, starting with a letter or digit, at most 64 characters, such as pgha-etcd',
  },
  unitName: {
    pattern: /^[A-Za-z0-9][A-Za-z0-9@._:-]{0,63}$/,
    says: 'a systemd unit name such as nginx: letters, digits and @ . _ : -, starting with a letter or digit',
  },
  configKey: {
    pattern: /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/,
    says: 'a configuration key such as spring.datasource.password: letters, digits and _ . -',
  },
  urlPath: {
    pattern: /^\/[A-Za-z0-9._~%/?=&-]{0,254}$/,
    says: 'a URL path such as /health: letters, digits and . _ ~ % / ? = & -',
  },
  pgParameterName: {
    pattern: /^[a-z_][a-z0-9_.]{0,62}$/,
    says: 'a PostgreSQL parameter name such as shared_buffers',
  },
  pgParameterValue: {
    pattern: /^[^\0-\x1f\x7f]{0,1024}$/,
    says: 'a value on one line, without control characters, at most 1024 characters',
  },
  dcsNamespace: {
    pattern: /^\/([A-Za-z0-9._-]+\/)*$/,
    says: 'a path that starts and ends with /, such as /service/',
  },
} as const satisfies Record<string, IdentifierKind>;

export type IdentifierKindName = keyof typeof IDENTIFIERS;

export function isIdentifier(kind: IdentifierKindName, value: string): boolean {
  return IDENTIFIERS[kind].pattern.test(value);
}

/**
 * For renderers: refuses a value the schema would have refused (a caller that skipped
 * validation), naming the field, rather than writing something that changes the file's meaning.
 */
export function assertIdentifier(kind: IdentifierKindName, value: string, field: string, file: string): string {
  if (!isIdentifier(kind, value)) {
    throw new Error(`cannot write ${file}: ${field} is ${JSON.stringify(value.slice(0, 80))}, which is not ${IDENTIFIERS[kind].says}`);
  }
  return value;
}

/**
 * The placeholders of a command template that sit inside quotes: there a substituted value,
 * quoted again by haflow, would close the template's quote and run as shell code
 * (`echo '{host}'` with the host `$(reboot)` becomes `echo ''$(reboot)''`). Follows sh's rules:
 * nothing is special inside '…'; inside "…" and outside, a backslash escapes the next character.
 */
export function placeholdersInQuotes(template: string, placeholders: readonly string[]): string[] {
  const found: string[] = [];
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      i += 1;
    } else if (quote === '"' && c === '"') {
      quote = undefined;
    } else if (!quote && (c === "'" || c === '"')) {
      quote = c;
    }
    if (quote && c === '{') {
      const name = placeholders.find((p) => template.startsWith(`{${p}}`, i));
      if (name) found.push(`{${name}}`);
    }
  }
  return found;
}
