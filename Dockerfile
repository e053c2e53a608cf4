# syntax=docker/dockerfile:1
#
# Spillway's container image: build with cargo, run as a non-root user on
# distroless (glibc, CA certificates, no package manager, no shell of its own).
#
#   docker build -t spillway .
#   docker run --rm -p 8080:8080 -e SPILLWAY_ALLOW_PUBLIC_DEV_AUTH=true spillway
#
# The image listens on 0.0.0.0:8080, so the default dev auth refuses to start
# unless it is told that anyone who can reach the port may mint tokens (fine on
# a laptop, never in AWS). infra/spillway.yaml runs it with Cognito instead.
# Build on the architecture you deploy (`docker buildx build --platform
# linux/arm64 ...` for Graviton tasks).

ARG RUST_VERSION=1.95

# --- build -----------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore): cargo needs every member's manifest,
# sim/ (spillway-sim) is built into the binary, and web-client/dist/ is
# embedded in it.
COPY . .
# Cache mounts keep the registry and target/ between builds; the binary is
# copied out of the cached target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin spillway \
    && cp target/release/spillway /usr/local/bin/spillway

# --- tools: a static busybox with the four applets the image uses -----------
# wget for the health check, sh/sed/tr for infra/entrypoint.sh (which reads
# the ECS task metadata to find the address other nodes reach this task on).
FROM busybox:1.37-musl AS tools
RUN mkdir /out && cp /bin/busybox /out/busybox \
    && for applet in sh wget sed tr; do ln -s busybox "/out/$applet"; done

# --- runtime ---------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=tools /out/ /busybox/
COPY --from=build /usr/local/bin/spillway /usr/local/bin/spillway
COPY --chmod=0755 infra/entrypoint.sh /usr/local/bin/spillway-entrypoint
# Dev auth keeps its key in ./.spillway: the non-root user's home is writable.
WORKDIR /home/nonroot
ENV SPILLWAY_LISTEN=0.0.0.0:8080
# 8081: the fleet-internal listener, when SPILLWAY_INTERNAL_LISTEN is set (infra/).
EXPOSE 8080 8081
USER 65532:65532
# Liveness (the process answers), not readiness: an orchestrator that acts on
# it (Swarm) replaces the container, and a registry blip, which fails
# /readyz, is no reason to kill its streams; readiness is for the load
# balancer (infra/README.md, "Health checks"). Exec form, no shell.
# ECS ignores an image's HEALTHCHECK; the task definition has its own.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/busybox/wget", "-q", "-T", "3", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/spillway-entrypoint"]
CMD ["serve"]
