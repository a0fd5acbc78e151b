// Grants a principal Read and Describe on literal topics, through Kafka's own Admin API, as the super user.
// deploy/kafka/start --secure runs it with `java -cp 'libs/*' Acls.java ...` (a single-file source launch: the
// Maven jars hold the Admin client but not kafka-tools' AclCommand, and one small file beats a second artifact).
//
//   java -cp 'libs/*' Acls.java BOOTSTRAP CLIENT_PROPERTIES PRINCIPAL TOPIC...
//
// Retries for up to 60 s while the broker finishes starting (its authorizer loads the metadata log first).
// Adding an ACL that exists is a no-op, so this runs on every start. Exit 0 when every binding is in place.
import java.io.FileReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: Acls BOOTSTRAP CLIENT_PROPERTIES PRINCIPAL TOPIC...");
            System.exit(2);
        }
        Properties props = new Properties();
        try (FileReader r = new FileReader(args[1])) {
            props.load(r);
        }
        props.put("bootstrap.servers", args[0]);
        props.put("request.timeout.ms", "10000");
        props.put("default.api.timeout.ms", "15000");
        List<AclBinding> bindings = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            ResourcePattern topic = new ResourcePattern(ResourceType.TOPIC, args[i], PatternType.LITERAL);
            for (AclOperation op : new AclOperation[] {AclOperation.READ, AclOperation.DESCRIBE}) {
                bindings.add(new AclBinding(topic, new AccessControlEntry(args[2], "*", op, AclPermissionType.ALLOW)));
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try (Admin admin = Admin.create(props)) {
                admin.createAcls(bindings).all().get(20, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                last = e;
                Thread.sleep(500);
            }
        }
        String why = last == null ? "timed out" : (last.getCause() != null ? last.getCause() : last).toString();
        System.err.println("creating ACLs failed: " + why.replace('\n', ' '));
        System.exit(1);
    }
}
