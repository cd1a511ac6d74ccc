import { RestError } from "@azure/storage-blob";
import { AccessDeniedError, BackendError } from "../backend.js";
import { classifyFailure, type FailureContext, firstLine } from "../errors.js";

type AzureRequest = Pick<FailureContext, "url" | "key" | "bucket" | "probing">;

/** One line naming the location and key, never a credential; typed so callers can retry. */
export function azureError(err: unknown, request: AzureRequest): Error {
  if (err instanceof BackendError) return err;
  if (isCredentialError(err)) {
    const what = request.key ? `${JSON.stringify(request.key)}: ` : "";
    return new AccessDeniedError(
      request.url,
      `${what}no usable Azure credential (${firstLine(err)}); set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or sign in for DefaultAzureCredential`,
    );
  }
  const rest = err instanceof RestError ? err : undefined;
  return classifyFailure(
    {
      status: rest?.statusCode,
      code: errorCode(err),
      text: firstLine(err),
      // A RestError carries the request, headers included: it is not kept as the cause.
      cause: rest ? undefined : err,
    },
    {
      ...request,
      bucketMissing: rest?.statusCode === 404 && rest.code === "ContainerNotFound",
      accessHint: "check the credentials and the account's network rules",
      // A RestError without a status: the SDK's pipeline gave up on the request.
      unknownIsTransient: rest !== undefined,
    },
  );
}

function errorCode(err: unknown): string | undefined {
  if (err instanceof RestError) return err.code || undefined;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string") return code;
  return err instanceof Error && err.name !== "Error" ? err.name : undefined;
}

/** @azure/identity's failures, recognised by name so the package need not be loaded. */
function isCredentialError(err: unknown): err is Error {
  return (
    err instanceof Error &&
    ["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError"].includes(err.name)
  );
}
