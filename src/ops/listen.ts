/** Something on the machine stands in the way (a port in use): printed as one line, exit code 1. */
export class StartupError extends Error {}

/** A failure to listen that a person can act on, as a StartupError; any other error as it is. */
export function listenError(error: NodeJS.ErrnoException, port: number, host: string, advice: string): Error {
  const where = `port ${port} (${host})`;
  if (error.code === 'EADDRINUSE')
    return new StartupError(`${where} is in use, by another program or another cdr-forwarder: ${advice}`);
  if (error.code === 'EACCES')
    return new StartupError(`${where} needs privileges this process does not have (below 1024): ${advice}`);
  return error;
}
