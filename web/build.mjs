// Placeholder until the console and widget land: the web build is owned by the web engineer.
console.log('web: nothing to build yet')
