# energy-gateway container: multi-stage, production dependencies only, non-root.
#   docker build -t energy-gateway .
#   docker run -v $PWD/gateway.yaml:/config/gateway.yaml:ro -v eg-data:/data -p 8080:8080 energy-gateway
# Node 24 LTS here (supported until 2028-04; the code also runs on Node 20, which CI uses,
# and the whole test suite passes on Node 24).

FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 and the serial port bindings are compiled from source.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build

FROM build AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# The runtime stage's files (test/container/runtime-layout.test.ts lays out the same set):
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY drivers ./drivers
COPY config ./config
RUN ln -s /app/dist/src/main.js /usr/local/bin/energy-gateway && chmod +x /app/dist/src/main.js \
 && mkdir -p /data /config && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The binary, not `node dist/src/main.js`: its first line carries the node options the
# gateway runs with (src/app/heap.ts, GATEWAY_NODE_OPTIONS).
ENTRYPOINT ["energy-gateway"]
CMD ["run", "--config", "/config/gateway.yaml"]
