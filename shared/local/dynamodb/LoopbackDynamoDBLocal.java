/*
 * Loopback-only launcher for DynamoDB Local (1.25.x, Jetty 9.4).
 *
 * DynamoDB Local has no host option: DynamoDBProxyServer builds its Jetty server with `new Server(port)`,
 * which binds every interface. This Java 17 single-file-source program builds the server exactly like the
 * official entry point (ServerRunner.createServerFromCommandLineArgs), then reflectively reaches the
 * private final `server` field and sets the host of every Jetty ServerConnector to 127.0.0.1 before the
 * server is started.
 *
 * Extras over the stock launcher:
 *   - `-port 0` picks any free port (DynamoDB Local itself rejects ports < 2); the real port is reported.
 *   - after a successful start, exactly one line `LISTENING <port>` is printed to stdout.
 *   - when stdin reaches end-of-file (the parent process died or closed the pipe) the JVM exits, so a
 *     crashed or SIGKILLed parent never leaves a stray server behind. Pass `-Dloopback.ignoreStdin=true`
 *     to disable this when running the launcher by hand with stdin closed.
 *
 * Usage (from the repository root, E = node_modules/amplify-dynamodb-simulator/emulator):
 *   java -Djava.library.path=$E/DynamoDBLocal_lib -cp "$E/DynamoDBLocal.jar:$E/DynamoDBLocal_lib/*" \
 *     shared/local/dynamodb/LoopbackDynamoDBLocal.java -inMemory -disableTelemetry -port 0
 *
 * Exit codes: 0 normal shutdown (stdin EOF), 1 start failure, 2 bad arguments.
 */

import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
  static final String LOOPBACK = "127.0.0.1";

  /** DynamoDB Local validates -port to 2..65535; this stands in for 0 during argument parsing only. */
  static final String PLACEHOLDER_PORT = "8000";

  public static void main(String[] args) throws Exception {
    List<String> forwarded = new ArrayList<>(List.of(args));
    boolean ephemeralPort = false;
    int portIdx = forwarded.indexOf("-port");
    if (portIdx >= 0 && portIdx + 1 < forwarded.size() && forwarded.get(portIdx + 1).equals("0")) {
      forwarded.set(portIdx + 1, PLACEHOLDER_PORT);
      ephemeralPort = true;
    }

    DynamoDBProxyServer proxy;
    try {
      proxy = ServerRunner.createServerFromCommandLineArgs(forwarded.toArray(new String[0]));
    } catch (Exception e) {
      System.err.println("LoopbackDynamoDBLocal: invalid arguments: " + describe(e));
      System.exit(2);
      return;
    }

    Field serverField = DynamoDBProxyServer.class.getDeclaredField("server");
    serverField.setAccessible(true);
    Server jetty = (Server) serverField.get(proxy);

    int bound = 0;
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector sc) {
        sc.setHost(LOOPBACK);
        if (ephemeralPort) {
          sc.setPort(0);
        }
        bound++;
      }
    }
    if (bound == 0) {
      System.err.println("LoopbackDynamoDBLocal: no Jetty ServerConnector found; refusing to bind all interfaces");
      System.exit(1);
      return;
    }

    try {
      // safeStart() propagates bind errors; start() would only log them and leave a dead server behind.
      proxy.safeStart();
    } catch (Exception e) {
      System.err.println("LoopbackDynamoDBLocal: could not start server: " + describe(e));
      try {
        jetty.stop();
      } catch (Exception ignored) {
        // already failing
      }
      System.exit(1);
      return;
    }

    int port = -1;
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector sc) {
        port = sc.getLocalPort();
        break;
      }
    }
    if (port <= 0) {
      System.err.println("LoopbackDynamoDBLocal: server started but no connector is open");
      System.exit(1);
      return;
    }

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        proxy.stop();
      } catch (Exception ignored) {
        // JVM is going down anyway
      }
    }, "dynamodb-local-shutdown"));

    if (!Boolean.getBoolean("loopback.ignoreStdin")) {
      Thread watchdog = new Thread(LoopbackDynamoDBLocal::exitOnStdinEof, "parent-watchdog");
      watchdog.setDaemon(true);
      watchdog.start();
    }

    System.out.println("LISTENING " + port);
    System.out.flush();
    proxy.join();
  }

  /** The exception and its causes on one line, e.g. "IOException: Failed to bind ... <- BindException: ...". */
  static String describe(Throwable t) {
    StringBuilder sb = new StringBuilder(t.toString());
    for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
      sb.append(" <- ").append(c);
    }
    return sb.toString();
  }

  /** Blocks until stdin is closed (parent gone), then exits the JVM. */
  static void exitOnStdinEof() {
    byte[] buf = new byte[256];
    InputStream in = System.in;
    try {
      while (in.read(buf) >= 0) {
        // discard anything the parent writes
      }
    } catch (Exception ignored) {
      // treat a broken stdin like EOF
    }
    System.exit(0);
  }
}
