// Shell quoting for every command haflow runs on a host: a value arrives as one word, whatever
// it holds. Pure, so renderers and planning code use it without loading the SSH client.

/** POSIX shell quoting: the argument arrives as one word, whatever it contains. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-./:=@%+,]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}
