/**
 * Bad input from the person at the keyboard: a config file, a flag, an argument. The message
 * names the place (file:line key, or the flag); the CLI prints it alone and exits 2, having
 * changed nothing.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
