import * as z from "zod";
import { durationMs } from "../config/units-schema.js";

/*
 * `alerts:` in strata.yaml: which of the catalog's facts are worth telling someone about, and
 * whom to tell. Each condition is off unless written; receivers get every alert. Credentials
 * are never written here: the config names the environment variables that hold them, so they
 * never reach the config file, the catalog, a log or an error.
 */

const severity = z.enum(["warning", "critical"]);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "names an environment variable: letters, digits and _");

const conditionsSchema = z
  .object({
    /** A POSIX location's filesystem fuller than `threshold` percent (statfs). */
    posixFill: z
      .object({
        threshold: z.number().min(1).max(100).default(90),
        /** Only these locations (default: every POSIX location of the config). */
        locations: z.array(z.string().min(1)).optional(),
        severity: severity.default("critical"),
      })
      .strict()
      .optional(),
    /** A scheduled policy with no successful run for twice its schedule's interval. */
    stalePolicy: z
      .object({ severity: severity.default("warning") })
      .strict()
      .optional(),
    /** Runs that ended failed or partial since the previous evaluation. */
    failedRuns: z
      .object({ severity: severity.default("warning") })
      .strict()
      .optional(),
    /** Replicas the catalog holds as lost. */
    lostReplicas: z
      .object({ severity: severity.default("critical") })
      .strict()
      .optional(),
    /** This month's cost of what is stored (`strata cost`) above a budget, in the price profiles' currency. */
    costOverBudget: z
      .object({ monthly: z.number().positive().finite(), severity: severity.default("warning") })
      .strict()
      .optional(),
    /** Archive restores still pending longer than `after`. */
    thawWaiting: z
      .object({ after: durationMs.default(2 * 86_400_000), severity: severity.default("warning") })
      .strict()
      .optional(),
  })
  .strict();

const webhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: "a webhook url is http:// or https://" }),
  })
  .strict();

const emailSchema = z
  .object({
    host: z.string().min(1, "the SMTP server's host name"),
    port: z.number().int().min(1).max(65535).default(587),
    /**
     * "starttls": upgrade the connection and refuse a server that cannot (port 587); "tls": TLS
     * from the first byte (port 465); "none": plain text, for a relay on localhost only.
     */
    security: z.enum(["starttls", "tls", "none"]).default("starttls"),
    /** A PEM file of the CA that signed the server's certificate, when not a public one. */
    ca: z.string().min(1).optional(),
    from: z.string().min(3, "the sender's address"),
    to: z.array(z.string().min(3)).min(1, "at least one recipient"),
    /** The environment variables holding the SMTP login (both, or neither for no auth). */
    userEnv: envName.optional(),
    passwordEnv: envName.optional(),
  })
  .strict()
  .refine((email) => (email.userEnv === undefined) === (email.passwordEnv === undefined), {
    message: "userEnv and passwordEnv go together",
    path: ["passwordEnv"],
  });

const receiverSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "receiver names start with a letter: letters, digits, _ . -"),
    webhook: webhookSchema.optional(),
    email: emailSchema.optional(),
  })
  .strict()
  .refine((r) => (r.webhook === undefined) !== (r.email === undefined), {
    message: "a receiver has one of webhook or email",
  });

export const alertsSchema = z
  .object({
    /** A firing alert is sent again after this long while it still fires. */
    repeat: durationMs.default(4 * 3_600_000),
    conditions: conditionsSchema.default({}),
    receivers: z
      .array(receiverSchema)
      .default([])
      .refine((list) => new Set(list.map((r) => r.name)).size === list.length, {
        message: "receiver names are unique",
      }),
  })
  .strict();

export type AlertsConfig = z.infer<typeof alertsSchema>;
export type AlertConditions = AlertsConfig["conditions"];
export type AlertReceiver = AlertsConfig["receivers"][number];
export type EmailReceiver = z.infer<typeof emailSchema>;
export type AlertSeverity = z.infer<typeof severity>;
