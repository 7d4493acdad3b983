/**
 * Something on the machine stands in the way of starting (a port in use, a folder that cannot be
 * written): printed as one line, exit code 1. `subject` names what could not start, when it is one
 * part of the process (`destination archive`); `detail` says why.
 */
export class StartupError extends Error {
  constructor(
    readonly detail: string,
    readonly subject?: string,
  ) {
    super(subject ? `${subject}: ${detail}` : detail);
    this.name = 'StartupError';
  }
}

/**
 * A failure to listen that a person can act on, as a StartupError; any other error as it is.
 * `settings`: what to change for the port, and for the host.
 */
export function listenError(
  error: NodeJS.ErrnoException,
  port: number,
  host: string,
  settings: { port: string; host: string },
): Error {
  const where = `port ${port} (${host})`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(
        `${where} is in use, by another program or another cdr-forwarder: ${settings.port}`,
      );
    case 'EACCES':
      return new StartupError(
        `${where} needs privileges this process does not have (below 1024): ${settings.port}`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`${host} is not an address of this machine (${error.code}): ${settings.host}`);
    default:
      return error;
  }
}
