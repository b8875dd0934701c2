package dev.baton.lock.zk;

import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.zookeeper.ClientCnxnSocketNetty;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.common.ClientX509Util;
import org.apache.zookeeper.common.KeyStoreFileType;
import org.apache.zookeeper.common.X509Util;

import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How the client a service owns proves who it is and protects its connection: TLS stores,
 * digest credentials, a SASL login section, or a {@link ZKClientConfig} of the caller's. Collected
 * by the builder (mutable, one thread), checked and applied once in {@code build()}. Passwords are
 * copied in and never appear in a message.
 */
final class ClientSecurity {
    private Path keyStore;
    private char[] keyPassword;
    private Path trustStore;
    private char[] trustPassword;
    private String digestUser;
    private String digestPassword;
    private String saslSection;
    private ZKClientConfig clientConfig;

    /** TLS with a trust store alone (no client certificate), or with a key store too. */
    void tls(Path keyStore, char[] keyPassword, Path trustStore, char[] trustPassword) {
        if (keyStore != null) {
            checkStore(keyStore, "key store");
            Objects.requireNonNull(keyPassword, "the key store's password must not be null");
        }
        checkStore(trustStore, "trust store");
        Objects.requireNonNull(trustPassword, "the trust store's password must not be null (empty for none)");
        this.keyStore = keyStore;
        this.keyPassword = keyStore == null ? null : keyPassword.clone();
        this.trustStore = trustStore;
        this.trustPassword = trustPassword.clone();
    }

    private static void checkStore(Path store, String what) {
        Objects.requireNonNull(store, "the " + what + " must not be null");
        if (!Files.isRegularFile(store) || !Files.isReadable(store)) {
            throw new IllegalArgumentException("The " + what + " " + store + " is not a readable file");
        }
        try {
            KeyStoreFileType.fromFilename(store.getFileName().toString());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Cannot tell the type of the " + what + " " + store
                    + " from its name: name it .jks, .p12, .pem or .bcfks", e);
        }
    }

    void digest(String user, String password) {
        checkDigest(user, password);
        this.digestUser = user;
        this.digestPassword = password;
    }

    /** A digest user and password ZooKeeper can take: a user without {@code :}, a password. */
    static void checkDigest(String user, String password) {
        Objects.requireNonNull(user, "digest user must not be null");
        Objects.requireNonNull(password, "digest password must not be null");
        if (user.isEmpty() || user.indexOf(':') >= 0) {
            throw new IllegalArgumentException("Invalid digest user \"" + user + "\": it must be non-empty and "
                    + "without ':' (ZooKeeper splits user:password at the first ':')");
        }
        if (password.isEmpty()) {
            throw new IllegalArgumentException("The digest password of user \"" + user + "\" must not be empty");
        }
    }

    void sasl(String jaasSection) {
        Objects.requireNonNull(jaasSection, "jaasSection must not be null");
        if (jaasSection.isBlank()) {
            throw new IllegalArgumentException("jaasSection must name a section of the JAAS configuration, got \""
                    + jaasSection + "\"");
        }
        this.saslSection = jaasSection;
    }

    void clientConfig(ZKClientConfig config) {
        this.clientConfig = Objects.requireNonNull(config, "clientConfig must not be null");
    }

    /** Whether any option was set (they apply only to a client the service owns). */
    boolean any() {
        return trustStore != null || digestUser != null || saslSection != null || clientConfig != null;
    }

    /**
     * Whether the client will present an identity: digest or SASL credentials, a TLS client
     * certificate, or a client configuration of the caller's (which may configure SASL).
     */
    boolean identifies() {
        return digestUser != null || saslSection != null || keyStore != null || clientConfig != null;
    }

    /**
     * Checks what can be checked before connecting: the TLS stores open with their passwords
     * (the client would otherwise retry its handshake until the connection timeout), the JAAS
     * section exists.
     *
     * @throws IllegalStateException if clientConfig is combined with tls or sasl
     * @throws IllegalArgumentException if a store cannot be used or the section is missing
     */
    void check() {
        if (clientConfig != null && (trustStore != null || saslSection != null)) {
            throw new IllegalStateException("clientConfig(..) cannot be combined with tls(..) or sasl(..): set "
                    + "their properties on your ZKClientConfig (zookeeper.client.secure, zookeeper.ssl.*, "
                    + "zookeeper.sasl.clientconfig)");
        }
        if (saslSection != null) {
            String file = System.getProperty("java.security.auth.login.config");
            AppConfigurationEntry[] entries;
            try {
                entries = Configuration.getConfiguration().getAppConfigurationEntry(saslSection);
            } catch (SecurityException | IllegalArgumentException e) {
                throw new IllegalArgumentException("Cannot read the JAAS configuration (java.security.auth.login.config="
                        + file + ") for section \"" + saslSection + "\": " + e.getMessage(), e);
            }
            if (entries == null) {
                throw new IllegalArgumentException("The JAAS configuration has no section \"" + saslSection
                        + "\" for sasl(..) (java.security.auth.login.config=" + file + ")");
            }
        }
        if (trustStore != null) {
            try (ClientX509Util x509 = new ClientX509Util()) {
                x509.createNettySslContextForClient(config());
            } catch (Exception e) {
                throw new IllegalArgumentException("Cannot use the TLS stores (" + stores() + "): " + e.getMessage(), e);
            }
        }
    }

    /** Whether the SASL section logs in with ZooKeeper's DigestLoginModule, so the client uses DIGEST-MD5. */
    private boolean digestMd5() {
        AppConfigurationEntry[] entries;
        try {
            entries = Configuration.getConfiguration().getAppConfigurationEntry(saslSection);
        } catch (RuntimeException unreadable) {
            return false; // check() reports it
        }
        if (entries == null) {
            return false;
        }
        for (AppConfigurationEntry entry : entries) {
            if (entry.getLoginModuleName().equals(DIGEST_LOGIN_MODULE)) {
                return true;
            }
        }
        return false;
    }

    private static final String DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule";

    private String stores() {
        return (keyStore == null ? "no key store" : "key store " + keyStore) + ", trust store " + trustStore;
    }

    /** Puts the options on Curator's builder: the client configuration and the digest credentials. */
    void applyTo(CuratorFrameworkFactory.Builder builder) {
        ZKClientConfig config = clientConfig != null ? clientConfig
                : trustStore != null || saslSection != null ? config() : null;
        if (config != null) {
            builder.zkClientConfig(config);
        }
        if (digestUser != null) {
            builder.authorization("digest", (digestUser + ":" + digestPassword).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A fresh client configuration (with the JVM's zookeeper.* system properties) with the TLS and SASL options. */
    private ZKClientConfig config() {
        ZKClientConfig config = new ZKClientConfig();
        if (trustStore != null) {
            config.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
            config.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, ClientCnxnSocketNetty.class.getName());
            try (ClientX509Util x509 = new ClientX509Util()) {
                if (keyStore != null) {
                    config.setProperty(x509.getSslKeystoreLocationProperty(), keyStore.toString());
                    config.setProperty(x509.getSslKeystorePasswdProperty(), new String(keyPassword));
                }
                config.setProperty(x509.getSslTruststoreLocationProperty(), trustStore.toString());
                config.setProperty(x509.getSslTruststorePasswdProperty(), new String(trustPassword));
            }
        }
        if (saslSection != null) {
            config.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "true");
            config.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, saslSection);
            if (digestMd5()) {
                config.setProperty(X509Util.FIPS_MODE_PROPERTY, "false"); // DIGEST-MD5 is refused in FIPS mode
            }
        }
        return config;
    }

    /** What to check when the ensemble was not reached: TLS is the usual suspect. */
    String unreachableHint() {
        if (trustStore != null) {
            return " (over TLS: check that these are the servers' secure client ports and that the trust store "
                    + trustStore + " holds what signed their certificates, and they trust this client's)";
        }
        if (clientConfig != null) {
            return "";
        }
        return " (if the ensemble takes TLS connections only, on a secure client port, configure tls(..))";
    }
}
