// A single-node OpenSearch for development and tests, run from Maven Central's jars (deploy/opensearch/start).
//
//   java -cp 'LIBS/*:CLASSES' DevNode DATA_DIR
//
// Reads DATA_DIR/config/opensearch.yml (written by the start script), starts the node and keeps running until
// SIGTERM, when a shutdown hook closes the node (flushes its shards) before the JVM exits.
//
// Why a Node subclass instead of OpenSearch's own launcher: the distribution (bin/opensearch) is not on Maven
// Central, only the jars are; and the public Node(Environment) constructor loads plugins from a plugins/ folder of
// installed distributions only. The protected constructor takes the plugin classes that are on our class path.

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

public final class DevNode extends Node {
    private DevNode(Environment environment) {
        super(environment, List.of(Netty4Plugin.class, CommonAnalysisPlugin.class), true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: DevNode DATA_DIR");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        Settings settings = Settings.builder().put("path.home", home.toString()).build();
        // Loads home/config/opensearch.yml; the node name comes from that file (the supplier is its fallback).
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "dev");
        DevNode node = new DevNode(environment);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "dev-node-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            // A one-line cause for the start script (it shows the log's last lines), then a non-zero exit.
            System.err.println("ERROR: the node did not start: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        closed.await();  // the node's own threads keep the JVM alive; this thread just waits for the hook
    }
}
