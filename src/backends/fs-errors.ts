import { AccessDeniedError, BackendError, InvalidRequestError, NotFoundError, TransientError } from "./backend.js";

/** Maps a Node filesystem error onto the backend error types, naming the location and key. */
export function fsError(location: string, key: string, err: unknown): Error {
  if (err instanceof BackendError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = `${JSON.stringify(key)}: ${(err as Error).message}`;
  switch (code) {
    case "ENOENT":
      return new NotFoundError(location, key, { cause: err });
    case "EACCES":
    case "EPERM":
      return new AccessDeniedError(location, what, { cause: err });
    case "EISDIR":
    case "ENOTDIR":
    case "ENAMETOOLONG":
    case "EEXIST":
      return new InvalidRequestError(location, what);
    case "EAGAIN":
    case "EBUSY":
    case "EINTR":
    case "ETIMEDOUT":
    case "EIO":
      return new TransientError(location, what, { cause: err });
    default:
      return new BackendError(what, location, false, { cause: err });
  }
}

/** A chown refused: only root may give a file away (and NFS may squash even root), so the file stays the writer's. */
export function unlessPermission(err: NodeJS.ErrnoException): void {
  if (err.code !== "EPERM") throw err;
}
