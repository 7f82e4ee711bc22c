# Guardian node image. Build: docker build -t guardian .   Run: see docker-compose.yml and docs/operations.md.
# The build stage compiles the release binary with the Swift runtime linked in statically; the
# runtime stage is Debian slim with the shared libraries the binary still needs: libsodium, SQLite,
# GSSAPI (libgit2 and its TLS, SSH and regex libraries are linked in from their archives,
# GUARDIAN_STATIC_LIBGIT2 in Package.swift; Debian ships no archive of GSSAPI), and the C++
# runtime and zlib that the static Swift runtime needs (checked with readelf on a release build
# on Debian 12). Their licence notices go to /usr/share/doc/guardian/third-party.
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsodium-dev libgit2-dev libsqlite3-dev pkg-config libcurl4-openssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# dependencies first, so that a change to Sources/ does not fetch them again
COPY Package.swift ./
RUN swift package resolve
# Package.swift names the test targets too: SwiftPM refuses a package whose target folders are missing
COPY Sources ./Sources
COPY Tests ./Tests
RUN GUARDIAN_STATIC_LIBGIT2=1 swift build -c release --product guardian --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/guardian" /out/guardian \
 && strip /out/guardian \
 && for p in libgit2-1.5 libmbedtls14 libmbedx509-1 libmbedcrypto7 libhttp-parser2.9 libssh2-1 libpcre2-8-0 libssl3; do \
      install -D -m 0644 "/usr/share/doc/$p/copyright" "/out/licenses/$p.copyright"; done

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsodium23 libsqlite3-0 libgssapi-krb5-2 libstdc++6 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/guardian --shell /usr/sbin/nologin guardian \
 && install -d -o guardian -g guardian -m 0700 /var/lib/guardian /run/guardian
COPY --from=build /out/guardian /usr/local/bin/guardian
# the notices of the libraries linked into the binary
COPY --from=build /out/licenses /usr/share/doc/guardian/third-party
USER guardian
# Data (identity, store, mirrors) lives in the volume; back it up with `guardian backup`.
VOLUME ["/var/lib/guardian"]
ENV GUARDIAN_DATA_DIR=/var/lib/guardian \
    GUARDIAN_HTTP_ADDR=0.0.0.0:7780 \
    GUARDIAN_GOSSIP_ADDR=0.0.0.0:7946 \
    GUARDIAN_LOG_FORMAT=json
# HTTP API and dashboard; gossip (UDP and TCP); LAN discovery (UDP broadcast)
EXPOSE 7780/tcp 7946/tcp 7946/udp 7947/udp
# The cluster key is read from a file (GUARDIAN_CLUSTER_KEY_FILE, e.g. a Docker secret at
# /run/secrets/cluster_key), never from the image or an environment variable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:7780/readyz >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/guardian"]
CMD ["agent"]
