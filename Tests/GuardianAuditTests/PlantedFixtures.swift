import Foundation
import GuardianTestKit

/// Source files with problems planted at known lines, one per supported language, plus a clean file.
enum Planted {
    static let swift = """
        import Foundation

        /// Documented.
        public struct Planted {
            // TODO: remove this workaround
            let label = "TODO inside a string is fine"

            // if this comment had an if, it must not count
            func classify(_ x: Int) -> String {
                if x > 10 && x < 20 {
                    return "teen"
                }
                for i in 0..<x where i == 3 {
                    print(i)
                }
                return x > 0 ? "positive" : "other"
            }

            func load() throws -> Data {
                let d = try! Data(contentsOf: URL(fileURLWithPath: "/tmp/x"))
                return d
            }

            func parse(_ s: String) -> Int {
                fatalError("not implemented")
            }

            func validateToken(_ t: String) -> Bool {
                return true
            }
        }

        """

    static let clean = """
        /// A clean, documented type.
        public struct Clean {
            /// Adds two numbers.
            public func add(_ a: Int, _ b: Int) -> Int {
                a + b
            }
        }

        """

    static let swiftTests = """
        import XCTest

        final class PlantedTests: XCTestCase {
            // TODO: in a test file this is not reported
            func testClassify() {
                XCTAssertEqual(1, 1)
            }

            func testNothing() {
                let x = 1
                _ = x
            }

            func testSkipped() throws {
                throw XCTSkip("later")
            }
        }

        """

    static let python = """
        import os
        import subprocess


        def classify(x):
            \"\"\"Docstring.\"\"\"
            # if in a comment does not count
            if x > 10 and x < 20:
                return "teen"
            elif x < 0:
                return "negative"
            for i in range(x):
                pass
            return "TODO in a string"


        def run(cmd):
            \"\"\"Run.\"\"\"
            os.system(cmd)  # FIXME: use subprocess
            subprocess.run(cmd, shell=True)


        def compute_total(items):
            raise NotImplementedError

        """

    static let javascript = """
        // HACK: temporary
        function classify(x) {
          if (x > 10 && x < 20) {
            return "teen";
          }
          return x > 0 ? "pos" : "neg";
        }

        function run(code) {
          return eval(code);
        }

        const s = "FIXME in a string";

        """

    static let typescript = """
        export function parseConfig(text: string): number {
          throw new Error("not implemented");
        }

        export function classify(x: number): string {
          // if inside comment
          switch (x) {
            case 1:
              return "one";
            case 2:
              return "two";
            default:
              return "many";
          }
        }

        """

    static let go = """
        package planted

        import "os/exec"

        // Classify classifies.
        func Classify(x int) string {
        \tif x > 10 || x < 0 {
        \t\treturn "odd"
        \t}
        \tfor i := 0; i < x; i++ {
        \t\t_ = i
        \t}
        \treturn "even"
        }

        func Run(c string) error {
        \t// XXX: shell injection
        \treturn exec.Command("sh", "-c", c).Run()
        }

        func Fetch() string {
        \tpanic("not implemented")
        }

        """

    static let rust = """
        /// Classify.
        pub fn classify(x: i32) -> &'static str {
            if x > 10 && x < 20 {
                return "teen";
            }
            while x < 0 {
                break;
            }
            "other"
        }

        pub fn parse(s: &str) -> i32 {
            todo!()
        }

        fn lifetimes<'a>(a: &'a str) -> &'a str {
            // TODO: lifetimes must not confuse the lexer
            a
        }

        """

    static let java = """
        package app;

        public class Planted {
            /** Classify. */
            public String classify(int x) {
                if (x > 10 && x < 20) {
                    return "teen";
                }
                try {
                    return "x";
                } catch (Exception e) {
                    return "y";
                }
            }

            public int compute() {
                throw new UnsupportedOperationException();
            }

            public void run(String c) throws Exception {
                Runtime.getRuntime().exec(c);
            }
        }

        """

    static let kotlin = """
        fun classify(x: Int): String {
            if (x > 10 && x < 20) {
                return "teen"
            }
            return when (x) {
                1 -> "one"
                else -> "many"
            }
        }

        fun parse(s: String): Int {
            TODO("parse")
        }

        """

    static let c = """
        #include <stdio.h>
        #include <string.h>

        int classify(int x) {
            /* if in a comment */
            if (x > 10 && x < 20) {
                return 1;
            }
            while (x < 0) {
                x++;
            }
            return x > 5 ? 2 : 3;
        }

        void copy(char *dst, const char *src) {
            strcpy(dst, src); // TODO bounds
        }

        """

    static let cpp = """
        #include <string>

        namespace app {
        int Planted::classify(int x) const {
            for (int i = 0; i < x; i++) {
                if (i == 3 || i == 4) {
                    return i;
                }
            }
            return 0;
        }
        }

        """

    static let workflow = """
        name: ci
        on: [push]
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: docker/login-action@v3
              - uses: actions/setup-node@8f152de45cc393bb48ce5d89d36b731f54556e65
              - run: curl -sSL https://example.com/install.sh | bash

        """

    static let dockerfile = """
        FROM node:latest
        FROM python
        FROM alpine:3.19@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5
        RUN echo ok

        """

    static let config = """
        service:
          region: eu-west-1
          aws_access_key_id: AKIAIOSFODNN7ABCDEFG
          documented_example: AKIAIOSFODNN7EXAMPLE

        """

    /// Files and their paths in the planted repository.
    static let files: [(String, String)] = [
        ("Sources/App/Planted.swift", swift), ("Sources/App/Clean.swift", clean),
        ("Tests/AppTests/PlantedTests.swift", swiftTests), ("app/planted.py", python), ("web/planted.js", javascript),
        ("web/planted.ts", typescript), ("pkg/planted/planted.go", go), ("crates/core/src/planted.rs", rust),
        ("src/main/java/app/Planted.java", java), ("src/main/kotlin/Planted.kt", kotlin), ("native/planted.c", c),
        ("native/planted.cpp", cpp), (".github/workflows/ci.yml", workflow), ("Dockerfile", dockerfile),
        ("config/app.yml", config), ("package.json", "{\"name\": \"planted\"}\n"),
    ]

    /// 1-based line of the first line containing `needle`.
    static func line(_ needle: String, in text: String) -> Int {
        for (i, l) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where l.contains(needle) {
            return i + 1
        }
        fatalError("fixture has no line containing \(needle)")
    }

    static func make() throws -> FixtureRepo {
        let repo = try FixtureRepo()
        for (path, text) in files { try repo.write(path, text) }
        try repo.commit("feat: add planted code")
        try repo.write("notes.txt", "wip\n")
        try repo.commit("WIP")
        try repo.write("notes.txt", "fixed\n")
        try repo.commit("fix(core): handle the empty case")
        try repo.write("notes.txt", "long\n")
        try repo.commit("this is a very long commit subject that definitely exceeds the seventy-two character limit")
        try repo.write("notes.txt", "stuff\n")
        try repo.commit("Update stuff")
        try repo.write("notes.txt", "more\n")
        try repo.commit("More changes")
        return repo
    }
}
