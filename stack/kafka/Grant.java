// The secure stack's ACLs for one pipeline, made as the admin in one JVM (Kafka's own
// kafka-acls.sh would take one JVM per principal and set of operations):
//
//   java -cp "<kafka jars>/*" Grant.java ADMIN_PROPERTIES BOOTSTRAP TOPIC GROUP
//
// creates TOPIC and TOPIC.dlq when missing (3 partitions each, as rtds would: the
// logins below may not create topics), then allows
//   User:rtds           Read, Describe on TOPIC and GROUP; Read, Write, Describe on TOPIC.dlq
//   User:rtds_producer  Write, Describe on TOPIC
// and nothing else. Every ACL is LITERAL: a prefix would let the producer write
// TOPIC.dlq too. Adding an ACL that exists is a no-op, so it may run again.
import java.io.FileReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Grant {
    static void allow(List<AclBinding> acls, String user, ResourceType type, String name,
            AclOperation... operations) {
        for (AclOperation operation : operations) {
            acls.add(new AclBinding(new ResourcePattern(type, name, PatternType.LITERAL),
                    new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW)));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Grant ADMIN_PROPERTIES BOOTSTRAP TOPIC GROUP");
            System.exit(2);
        }
        Properties admin = new Properties();
        try (FileReader reader = new FileReader(args[0])) {
            admin.load(reader);
        }
        admin.put("bootstrap.servers", args[1]);
        String topic = args[2], group = args[3], dlq = topic + ".dlq";
        List<AclBinding> acls = new ArrayList<>();
        allow(acls, "rtds", ResourceType.TOPIC, topic, AclOperation.READ, AclOperation.DESCRIBE);
        allow(acls, "rtds", ResourceType.GROUP, group, AclOperation.READ, AclOperation.DESCRIBE);
        allow(acls, "rtds", ResourceType.TOPIC, dlq, AclOperation.READ, AclOperation.WRITE,
                AclOperation.DESCRIBE);
        allow(acls, "rtds_producer", ResourceType.TOPIC, topic, AclOperation.WRITE,
                AclOperation.DESCRIBE);
        try (Admin client = Admin.create(admin)) {
            for (String name : List.of(topic, dlq)) {
                try {
                    client.createTopics(List.of(new NewTopic(name, Optional.of(3), Optional.empty())))
                            .all().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) throw e;
                }
            }
            client.createAcls(acls).all().get();
        }
        System.out.println("granted the ACLs of topic " + topic + " and group " + group);
    }
}
