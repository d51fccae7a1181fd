# Redis for classroom rooms across Gateflow workers or machines (docs/docker.md, "Classroom rooms"), built
# from the same Debian base as Gateflow's image: no registry image needed. Debian's redis-server 7.0.
#   docker build -t gateflow-redis -f docker/redis.Dockerfile docker
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*

# Rooms are short-lived (a lesson): nothing is written to disk. Reachable only on the Docker network
# the Gateflow containers share (publish no port).
USER redis
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["redis-cli", "ping"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
