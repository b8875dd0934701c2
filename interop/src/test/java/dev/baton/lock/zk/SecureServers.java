package dev.baton.lock.zk;

import dev.baton.lock.test.EmbeddedEnsemble;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import java.security.URIParameter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * What the security tests need around a server: key stores made with the JDK's keytool, a JAAS
 * configuration the client side reads by section (installed without touching other clients of
 * this JVM), and servers with a TLS-only port or with SASL required.
 */
final class SecureServers {
    private SecureServers() {
    }

    /** A key pair with a self-signed certificate for {@code cn} (valid for 127.0.0.1 and localhost), and its certificate as PEM. */
    record Identity(Path keyStore, Path certificate) { }

    /**
     * Makes {@code <name>.p12} (password {@code password}) and {@code <name>.pem} in {@code dir};
     * each identity's two keytool runs one after the other, identities side by side.
     */
    static List<Identity> identities(Path dir, String password, String... cns) throws Exception {
        List<CompletableFuture<Identity>> made = new ArrayList<>();
        for (String cn : cns) {
            made.add(CompletableFuture.supplyAsync(() -> {
                try {
                    Path store = dir.resolve(cn + ".p12");
                    Path pem = dir.resolve(cn + ".pem");
                    keytool("-genkeypair", "-alias", cn, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + cn,
                            "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12",
                            "-keystore", store.toString(), "-storepass", password, "-keypass", password);
                    keytool("-exportcert", "-rfc", "-alias", cn, "-keystore", store.toString(), "-storepass", password,
                            "-file", pem.toString());
                    return new Identity(store, pem);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        List<Identity> out = new ArrayList<>();
        for (CompletableFuture<Identity> f : made) {
            out.add(f.get(60, TimeUnit.SECONDS));
        }
        return out;
    }

    private static void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool " + args[0] + " failed: " + output);
        }
    }

    /** A 3.9 server with only a secure client port, requiring client certificates signed by (here: equal to) {@code trusted}. */
    static TlsServer tlsOnly(String version, Identity server, Path trusted, String password) throws IOException {
        int port = EmbeddedEnsemble.freePorts(1)[0];
        ServerProcess p = ServerProcess.start(version, "zk-" + version + "-tls-" + port, 1, null, Map.of(
                "secureClientPort", Integer.toString(port),
                "serverCnxnFactory", "org.apache.zookeeper.server.NettyServerCnxnFactory",
                "ssl.keyStore.location", server.keyStore().toString(),
                "ssl.keyStore.password", password,
                "ssl.trustStore.location", trusted.toString(),
                "ssl.clientAuth", "need",
                "authProvider.x509", "org.apache.zookeeper.server.auth.X509AuthenticationProvider"), List.of());
        // no plain port for srvr: serving once it accepts connections (a client that comes a
        // moment early is turned away and retries)
        await().atMost(Servers.START_PATIENCE).pollInterval(Duration.ofMillis(100)).until(() -> {
            if (!p.isAlive()) {
                throw new IllegalStateException("ZooKeeper " + version + " exited; see " + p.log());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return true;
            } catch (IOException notYet) {
                return false;
            }
        });
        return new TlsServer(p, port);
    }

    /** A server started by {@link #tlsOnly}, and its secure port. */
    record TlsServer(ServerProcess process, int port) implements AutoCloseable {
        String connectString() {
            return "127.0.0.1:" + port;
        }

        @Override
        public void close() {
            process.close();
        }
    }

    /**
     * A server on which every client must authenticate with SASL (DIGEST-MD5) before its first
     * request: {@code users} are the user names and passwords of its JAAS section {@code Server}.
     */
    static ServerProcess saslRequired(String version, Path dir, Map<String, String> users) throws Exception {
        StringBuilder jaas = new StringBuilder("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required");
        users.forEach((user, password) -> jaas.append("\n  user_").append(user).append("=\"").append(password).append('"'));
        jaas.append(";\n};\n");
        Path file = Files.writeString(dir.resolve("server-jaas.conf"), jaas);
        int port = EmbeddedEnsemble.freePorts(1)[0];
        return ServerProcess.start(version, "zk-" + version + "-sasl-" + port, 1, port, Map.of(), List.of(
                "-Djava.security.auth.login.config=" + file,
                "-Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
                "-Dzookeeper.enforce.auth.enabled=true",
                "-Dzookeeper.enforce.auth.schemes=sasl")).awaitServing(Servers.START_PATIENCE);
    }

    /** Sections added to this JVM's JAAS configuration by the tests, by name. */
    private static final Map<String, AppConfigurationEntry[]> SECTIONS = new ConcurrentHashMap<>();

    /**
     * Adds every section of the JAAS file {@code file} to this JVM's login configuration, which is
     * global: other names still go to the configuration installed before, so other clients are
     * unaffected (none of these sections is named {@code Client}, the ZooKeeper client's default).
     */
    static synchronized void addJaasSections(Path file, String... names) throws NoSuchAlgorithmException {
        Configuration parsed = Configuration.getInstance("JavaLoginConfig", new URIParameter(file.toUri()));
        for (String name : names) {
            AppConfigurationEntry[] entries = parsed.getAppConfigurationEntry(name);
            if (entries == null) {
                throw new IllegalArgumentException("no section " + name + " in " + file);
            }
            if (name.equals("Client")) {
                throw new IllegalArgumentException("section Client would make every ZooKeeper client of the JVM log in");
            }
            SECTIONS.put(name, entries);
        }
        Configuration current = Configuration.getConfiguration();
        if (!(current instanceof Sections)) {
            Configuration.setConfiguration(new Sections(current));
        }
    }

    /** The JVM's configuration with the tests' sections in front. */
    private static final class Sections extends Configuration {
        private final Configuration before;

        Sections(Configuration before) {
            this.before = before;
        }

        @Override
        public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
            AppConfigurationEntry[] ours = SECTIONS.get(name);
            if (ours != null) {
                return ours;
            }
            try {
                return before.getAppConfigurationEntry(name);
            } catch (RuntimeException none) {
                return null;
            }
        }
    }
}
