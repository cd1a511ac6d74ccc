import { type Command, InvalidArgumentError } from "commander";
import { TOKEN_ROLES, type TokenRole } from "../catalog/schema.js";
import { createToken, listTokens, revokeToken, TOKEN_NAME, TOKEN_NAME_RULE } from "../catalog/tokens.js";
import { UsageError } from "../config/errors.js";
import { EXIT, type Runner } from "./runner.js";

function role(text: string): TokenRole {
  if ((TOKEN_ROLES as readonly string[]).includes(text)) return text as TokenRole;
  throw new InvalidArgumentError(`must be one of ${TOKEN_ROLES.join(", ")}`);
}

function tokenName(text: string): string {
  if (TOKEN_NAME.test(text)) return text;
  throw new InvalidArgumentError(`must be ${TOKEN_NAME_RULE}`);
}

export function registerToken(program: Command, run: Runner): void {
  const token = program.command("token").description("API tokens of strata serve: the catalog keeps only their hash");
  token
    .command("create")
    .description("make a token and print it once (read < operate < admin)")
    .requiredOption("--role <role>", `${TOKEN_ROLES.join(", ")}`, role)
    .option("--name <name>", "what the token is for (shown by token ls and in the request log)", tokenName)
    .action(
      run(async (ctx, opts: { role: TokenRole; name?: string }) => {
        const made = await createToken(ctx.catalog, { role: opts.role, name: opts.name ?? `${opts.role}-token` });
        ctx.out.json({ token: made.token, ...made.info });
        ctx.out.data(made.token);
        ctx.out.info(`token ${made.info.id} (${made.info.name}, ${made.info.role}): shown this once, keep it safe`);
        return EXIT.ok;
      }),
    );
  token
    .command("ls")
    .description("list tokens (never their text)")
    .action(
      run(async (ctx) => {
        const tokens = await listTokens(ctx.catalog);
        ctx.out.json({ tokens });
        for (const t of tokens) {
          const state = t.revokedAt === null ? "live" : `revoked ${new Date(t.revokedAt).toISOString()}`;
          ctx.out.data(
            `${String(t.id).padStart(5)}  ${t.role.padEnd(7)}  ${t.name}  ${new Date(t.createdAt).toISOString()}  ${state}`,
          );
        }
        return EXIT.ok;
      }),
    );
  token
    .command("revoke")
    .description("revoke a token by id or name: it is refused from the next request on")
    .argument("<id-or-name>")
    .action(
      run(async (ctx, idOrName: string) => {
        const revoked = await revokeToken(ctx.catalog, idOrName);
        if (revoked === 0)
          throw new UsageError(`token ${JSON.stringify(idOrName)}: no live token with that id or name`);
        ctx.out.json({ revoked });
        ctx.out.info(`revoked ${revoked} token${revoked === 1 ? "" : "s"}`);
        return EXIT.ok;
      }),
    );
}
