import type { FastifyInstance } from "fastify";

// Placeholder until the dashboard branch lands: the agreed signature only. Serves the
// dashboard's bundled assets at `/` (no token needed for the assets; the API calls carry it).
export async function registerDashboard(_app: FastifyInstance): Promise<void> {}
