# Roster: multi-stage image on Node 24 LTS, production dependencies only, running as a non-root user.
# Node 24 runs the TypeScript sources directly (type stripping): there is no build output to copy.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The `node` devDependency (the pinned Node 24 for development machines) is omitted here: the image has its own.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY migrations ./migrations
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Configuration comes from the environment only (docker run -e / --env-file; .env is not read in the image).
# SECRET is required in production; ISSUER is the public https URL; DATABASE_URL selects PostgreSQL (else the
# embedded database in /data, with its lock and the operator socket). METRICS_PORT (e.g. 9464) starts the
# Prometheus listener: publish it to the internal network only, never through the public proxy.
# Operator CLI: docker exec <container> node src/cli.ts <command> (runs as `node`, the owner of /data).
# V8 young generation capped at 8 MB a semi-space, as `npm start` does: it kept the server under 170 MB under
# load (bench/README.md), where the default let it reach 300 MB and never give the pages back.
# glibc keeps each thread's malloc arena: every libuv thread that ran argon2 (19 MiB a hash) kept it resident.
# Two arenas for the process, as `npm start` sets: peak RSS under sign-ins 234 MB instead of 258-270 (bench/oidc).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-semi-space-size=8", "src/main.ts"]
