# cdr-forwarder image: TypeScript run by tsx (no build output), production dependencies only.
#   docker build -t cdr-forwarder .
#   docker run --env REDIS_URL=redis://host:6379 -p 3000:3000 cdr-forwarder       # receiver + all workers
#   docker run ... cdr-forwarder node --max-semi-space-size=64 --import tsx workers/worker.ts --only crm   # one role
# docker-compose.yml runs the receiver and the workers as separate services.

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. build: every dependency, and a type check, so that an image is only built from code that
#    type-checks. The runtime stage takes its sources from here.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY config ./config
RUN npx tsc --noEmit -p .

# 2. deps: production dependencies only (tsx is one: it runs the TypeScript).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# Code and dependencies stay owned by root (read-only for the app); only data/ is writable:
# the file archive and the receiver's spool (mount a volume on /app/data).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY --from=build /app/src ./src
COPY --from=build /app/workers ./workers
COPY --from=build /app/scripts ./scripts
COPY --from=build /app/config ./config
RUN mkdir -p /app/data && chown node:node /app/data
USER node

# 3000: the receiver (webhook, /healthz, /readyz, /metrics). 9464: a worker process's /metrics and /healthz.
EXPOSE 3000 9464

# No curl in the slim image: node's fetch. The receiver's port follows PORT like config/forwarder.yaml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# `npm start`'s command (receiver and every worker in one process), with node as the container's main
# process: `docker stop` sends SIGTERM, and only node itself shuts down gracefully (README,
# "Processes"). Through npm the signal stops at npm's `sh -c`, npm exits, and the container's
# processes are killed with in-flight requests and deliveries. Same in docker-compose.yml.
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "workers/all.ts"]
